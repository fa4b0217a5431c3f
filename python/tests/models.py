"""The four diffusers video transformers, built from small configs with random weights,
and one forward call's inputs for each (CPU, no downloads)."""

import torch


def wan(frames=3, height=16, width=24):
    from diffusers import WanTransformer3DModel

    torch.manual_seed(0)
    model = WanTransformer3DModel(
        patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4,
        text_dim=32, freq_dim=32, ffn_dim=64, num_layers=3, qk_norm="rms_norm_across_heads",
        rope_max_seq_len=64).eval()
    inputs = dict(
        hidden_states=torch.randn(1, 4, frames, height, width),
        timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(1, 7, 32),
    )
    return model, inputs, (frames, height // 2, width // 2), 0


def hunyuan(frames=3, height=16, width=24, text=6):
    from diffusers import HunyuanVideoTransformer3DModel

    torch.manual_seed(0)
    model = HunyuanVideoTransformer3DModel(
        in_channels=4, out_channels=4, num_attention_heads=2, attention_head_dim=16, num_layers=2,
        num_single_layers=2, num_refiner_layers=1, patch_size=2, patch_size_t=1, text_embed_dim=32,
        pooled_projection_dim=16, rope_axes_dim=(4, 6, 6)).eval()
    inputs = dict(
        hidden_states=torch.randn(1, 4, frames, height, width),
        timestep=torch.tensor([500]),
        encoder_hidden_states=torch.randn(1, text, 32),
        encoder_attention_mask=torch.ones(1, text, dtype=torch.bool),
        pooled_projections=torch.randn(1, 16),
        guidance=torch.tensor([3500.0]),
    )
    return model, inputs, (frames, height // 2, width // 2), text


def cogvideox(frames=3, height=16, width=24, text=5):
    from diffusers import CogVideoXTransformer3DModel

    torch.manual_seed(0)
    model = CogVideoXTransformer3DModel(
        num_attention_heads=2, attention_head_dim=16, in_channels=4, out_channels=4, time_embed_dim=8,
        text_embed_dim=32, num_layers=2, sample_width=width, sample_height=height, sample_frames=frames,
        patch_size=2, max_text_seq_length=text, use_rotary_positional_embeddings=True).eval()
    inputs = dict(
        hidden_states=torch.randn(1, frames, 4, height, width),  # [B, F, C, H, W]
        encoder_hidden_states=torch.randn(1, text, 32),
        timestep=torch.tensor([500]),
    )
    return model, inputs, (frames, height // 2, width // 2), text


def kandinsky5(frames=2, height=16, width=32, text=5):
    from diffusers import Kandinsky5Transformer3DModel

    torch.manual_seed(0)
    model = Kandinsky5Transformer3DModel(
        in_visual_dim=4, in_text_dim=32, in_text_dim2=16, time_dim=32, out_visual_dim=4, patch_size=(1, 2, 2),
        model_dim=32, ff_dim=64, num_text_blocks=1, num_visual_blocks=2, axes_dims=(4, 6, 6)).eval()
    t, h, w = frames, height // 2, width // 2
    inputs = dict(
        hidden_states=torch.randn(1, frames, height, width, 4),  # [B, F, H, W, C]
        encoder_hidden_states=torch.randn(1, text, 32),
        timestep=torch.tensor([500.0]),
        pooled_projections=torch.randn(1, 16),
        visual_rope_pos=[torch.arange(t), torch.arange(h), torch.arange(w)],
        text_rope_pos=torch.arange(text),
    )
    return model, inputs, (t, h, w), 0


MODELS = {"wan": wan, "hunyuanvideo": hunyuan, "cogvideox": cogvideox, "kandinsky5": kandinsky5}

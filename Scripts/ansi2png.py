#!/usr/bin/env python3
"""Render `tmux capture-pane -e -p` output (ANSI SGR) to a PNG, cell by cell.

Made docs/screenshot.png (needs Pillow):
    tmux new-session -d -s shot -x 120 -y 50 "TERM=xterm-256color .build/release/nabla"
    tmux send-keys -t shot + +; tmux capture-pane -e -p -t shot > screen.txt
    python3 Scripts/ansi2png.py screen.txt docs/screenshot.png
"""
import re, sys
from PIL import Image, ImageDraw, ImageFont

def xterm256(n):
    base = [(0,0,0),(205,0,0),(0,205,0),(205,205,0),(0,0,238),(205,0,205),(0,205,205),(229,229,229),
            (127,127,127),(255,0,0),(0,255,0),(255,255,0),(92,92,255),(255,0,255),(0,255,255),(255,255,255)]
    if n < 16: return base[n]
    if n < 232:
        n -= 16; r, g, b = n // 36, (n // 6) % 6, n % 6
        f = lambda v: 0 if v == 0 else 55 + 40 * v
        return (f(r), f(g), f(b))
    v = 8 + 10 * (n - 232); return (v, v, v)

text = open(sys.argv[1], encoding="utf-8").read()
out = sys.argv[2]
lines = text.split("\n")
W = max(len(re.sub(r"\x1b\[[0-9;]*m", "", l)) for l in lines)
H = len(lines)
cw, ch = 9, 18
font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono.ttf", 14)
bold = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf", 14)
img = Image.new("RGB", (W * cw, H * ch), (0, 0, 0))
d = ImageDraw.Draw(img)
DFG, DBG = (229, 229, 229), (0, 0, 0)
for y, line in enumerate(lines):
    fg, bg, isbold, dim, rev = DFG, DBG, False, False, False
    x = 0
    for tok in re.split(r"(\x1b\[[0-9;]*m)", line):
        m = re.match(r"\x1b\[([0-9;]*)m", tok)
        if m:
            ps = [int(p) if p else 0 for p in m.group(1).split(";")] or [0]
            i = 0
            while i < len(ps):
                p = ps[i]
                if p == 0: fg, bg, isbold, dim, rev = DFG, DBG, False, False, False
                elif p == 1: isbold = True
                elif p == 2: dim = True
                elif p == 7: rev = True
                elif p == 22: isbold = dim = False
                elif p == 27: rev = False
                elif 30 <= p <= 37: fg = xterm256(p - 30)
                elif 90 <= p <= 97: fg = xterm256(p - 90 + 8)
                elif 40 <= p <= 47: bg = xterm256(p - 40)
                elif 100 <= p <= 107: bg = xterm256(p - 100 + 8)
                elif p == 39: fg = DFG
                elif p == 49: bg = DBG
                elif p in (38, 48):
                    if ps[i+1] == 5: c = xterm256(ps[i+2]); i += 2
                    else: c = tuple(ps[i+2:i+5]); i += 4
                    if p == 38: fg = c
                    else: bg = c
                i += 1
            continue
        for c in tok:
            f, b = (bg, fg) if rev else (fg, bg)
            if dim: f = tuple(v // 2 for v in f)
            x0, y0 = x * cw, y * ch
            d.rectangle([x0, y0, x0 + cw - 1, y0 + ch - 1], fill=b)
            if c == "▀": d.rectangle([x0, y0, x0 + cw - 1, y0 + ch // 2 - 1], fill=f)
            elif c == "▄": d.rectangle([x0, y0 + ch // 2, x0 + cw - 1, y0 + ch - 1], fill=f)
            elif c == "█": d.rectangle([x0, y0, x0 + cw - 1, y0 + ch - 1], fill=f)
            elif c != " ": d.text((x0, y0 + 1), c, fill=f, font=bold if isbold else font)
            x += 1
img.save(out)

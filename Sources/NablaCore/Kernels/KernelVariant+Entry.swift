import CNablaKernels

// Single entry points into one level's kernels, for tests that check each level against
// naive references (KernelVariantTests, MapKernelTests, AttentionTests).
extension KernelVariant {
    /// `e^x` elementwise by this level's vector exp (the pooled map's softmax), `x <= 0`.
    func exp(_ xs: [Double]) -> [Double] {
        var out = [Double](repeating: 0, count: xs.count)
        out.withUnsafeMutableBufferPointer { o in
            xs.withUnsafeBufferPointer { table.pointee.exp_f64($0.baseAddress, o.baseAddress, Int32(xs.count)) }
        }
        return out
    }

    /// `2^x` elementwise by this level's vector exp2 (the attention softmax), `x <= 127`.
    func exp2(_ xs: [Float]) -> [Float] {
        var out = [Float](repeating: 0, count: xs.count)
        out.withUnsafeMutableBufferPointer { o in
            xs.withUnsafeBufferPointer { table.pointee.exp2_f32($0.baseAddress, o.baseAddress, Int32(xs.count)) }
        }
        return out
    }

    /// One pooled-map softmax row from raw dots (`dots` readable to `n` rounded up to 8).
    func softmaxRow(_ dots: UnsafeMutablePointer<Double>, n: Int, scale: Double, into out: UnsafeMutablePointer<Double>) {
        table.pointee.softmax_row(dots, Int32(n), scale, out)
    }
}

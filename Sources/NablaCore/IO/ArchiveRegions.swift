extension TorchArchive {
    /// Where tensor `key`'s bytes lie when it is contiguous in C order (a storage's
    /// elements `span`): at its offset of a stored storage, or streamed from a deflated
    /// one; `nil` for a strided view or a missing key.
    ///
    /// Reading a part of a stored storage this way does not check the storage's CRC-32
    /// (that needs all its bytes, which reading some heads avoids); `tensor(_:)` checks it.
    func region(_ key: String) -> TensorRegion? {
        guard let e = try? entry(key), let span = e.span, e.shape.reduce(1, *) > 0,
              Self.isCContiguous(shape: e.ref.shape, strides: e.ref.strides),
              let member = zip.member("\(prefix)data/\(e.ref.storage.key)") else { return nil }
        let start = span.lowerBound * e.dtype.size
        if let stored = member.storedRange { return .seekable(zip.source, offset: stored.lowerBound + start) }
        let zip = self.zip, index = member.index
        return TensorRegion.stream { consume in try zip.stream(zip.members[index], consume) }.dropping(start)
    }
}

extension NPZArchive {
    /// Where array `key`'s data lie (after its NPY header): at its offset of a stored
    /// member, or streamed from a deflated one (inflated from the member's start, the
    /// header skipped); `nil` for a missing key. Like `TorchArchive.region`, reading part
    /// of a stored member this way does not check its CRC-32.
    func region(_ key: String) -> TensorRegion? {
        guard let e = try? entry(key) else { return nil }
        let member = zip.members[e.member]
        let headerEnd = e.byteCount - e.shape.reduce(1, *) * e.dtype.size
        if let stored = member.storedRange { return .seekable(zip.source, offset: stored.lowerBound + headerEnd) }
        let zip = self.zip, index = e.member
        return TensorRegion.stream { consume in try zip.stream(zip.members[index], consume) }.dropping(headerEnd)
    }
}

extension FrameTree {
    /// The tree as a profile: one sample per node with samples of its own, its stack the
    /// node's path, each distinct label a function (its name without the kind's suffix, the
    /// kind kept as data). For a differential tree `sampleTypes` names the before and after
    /// counts, in that order; otherwise the one count.
    public func profile(sampleTypes: [ValueType]) -> Profile {
        precondition(sampleTypes.count == (isDifferential ? 2 : 1), "one type per count")
        var profile = Profile(sampleTypes: sampleTypes)
        let (ownAfter, ownBefore) = selfSamples()
        // Own counts left by subtraction carry float noise: a node whose count rounds to
        // nothing in thousandths has no samples of its own.
        func rounded(_ value: Double) -> Double {
            tracksSelfSamples ? value : (value * 1000).rounded() / 1000
        }
        var labels = StringTable()
        var locationOfLabel: [Int32: Int32] = [:]
        var stackOfNode = [Int32](repeating: -1, count: nodeCount)
        for node in 1..<nodeCount {
            let kind = self.kind(of: node)
            let label = withName(of: node) { labels.intern($0) }
            let location: Int32
            if let known = locationOfLabel[label] {
                location = known
            } else {
                let name = withName(of: node) { labelBytes in
                    profile.intern(UnsafeBufferPointer(
                        rebasing: labelBytes[0..<FoldedFormat.nameLength(ofLabel: labelBytes.count, kind: kind)]))
                }
                let function = profile.addFunction(Function(name: name, systemName: name))
                location = profile.addLocation(Location(kind: kind, lines: [Line(function: function)]))
                locationOfLabel[label] = location
            }
            // A parent's id is smaller than its children's: its stack is made already.
            let stack = profile.addStack(location: location, caller: stackOfNode[Int(nodeParent[node])])
            stackOfNode[node] = stack
            let after = rounded(ownAfter[node])
            let before = rounded(ownBefore[node])
            if isDifferential {
                if after != 0 || before != 0 { profile.addSample(stack: stack, values: [before, after]) }
            } else if after != 0 {
                profile.addSample(stack: stack, value: after)
            }
        }
        return profile
    }
}

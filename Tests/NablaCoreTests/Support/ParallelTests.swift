import Foundation
import Synchronization
import Testing
@testable import NablaCore

/// Dispatch's worker threads run outside the caller's task: the task-local settings tests
/// and callers set (a forced kernel level, a read counter, chunk and span sizes) must be
/// carried to them, or the work done off the calling thread silently ignores them (the
/// read counter of a two-head read once saw none of the heads' bytes on CI).
@Suite("Parallel: the caller's task-local settings hold on every worker thread")
struct ParallelTests {
    @Test("each item, on whichever thread it runs, sees the caller's kernel level, counter, chunk and span sizes")
    func taskLocalsReachWorkers() {
        let items = 64
        let counter = FileBytes.ReadCounter()
        let forced = KernelVariant.supported[0]
        let seen = Mutex<[Int: (KernelVariant?, Bool, Int, Int)]>([:])
        KernelVariant.with(forced) {
            FileBytes.$readCounter.withValue(counter) {
                FileBytes.$chunkSize.withValue(4096) {
                    HeadRead.$spanBytes.withValue(512) {
                        Parallel.forEach(items) { i in
                            // Long enough that the items spread over the workers.
                            usleep(2000)
                            seen.withLock {
                                $0[i] = (KernelVariant.override, FileBytes.readCounter === counter,
                                         FileBytes.chunkSize, HeadRead.spanBytes)
                            }
                            FileBytes.readCounter?.add(1)
                        }
                    }
                }
            }
        }
        let all = seen.withLock { $0 }
        #expect(all.count == items)
        for (i, v) in all {
            #expect(v.0 == forced && v.1 && v.2 == 4096 && v.3 == 512, "item \(i)")
        }
        #expect(counter.reads.count == items)
        // Outside the scope nothing leaks to later work.
        Parallel.forEach(8) { _ in
            #expect(KernelVariant.override == nil && FileBytes.readCounter == nil)
        }
    }
}

import ArgumentParser
import Foundation
import Ledger

extension BenchCommand {
  /// One node's share of a block without the network: what `bench network`
  /// cannot separate from consensus, HTTP and the other nodes on the same cores.
  struct Store: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract:
        "Execute and commit blocks of pre-signed transactions in one store, as a primary does, with no network.",
      discussion: """
        Opens a new store with the sample city (4 devnet validators), pre-signs BLOCKS × BLOCK-SIZE transactions \
        of the network benchmark's mix, then for each block: executes it (signatures taken as verified at \
        admission, as a node does), encodes it, and commits it under a certificate of the validators. Reports \
        medians over the blocks after the warm-up, per transaction: execution, commit and both (wall time of \
        this thread), and the process's CPU time (LevelDB's background thread included). One thread and no \
        sockets: ratios between two builds in one session are steady to a few per cent.
        """)

    @Option(help: "Blocks measured after the warm-up.") var blocks: Int = 40
    @Option(help: "Blocks executed and committed first, not counted.") var warmupBlocks: Int = 4
    @Option(help: "Transactions per block.") var blockSize: Int = 5_000
    @Option(help: "Directory for the store (default: a new temporary directory, removed afterwards).")
    var dir: String?
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
      guard (1...10_000).contains(blocks), (0...1_000).contains(warmupBlocks), (1...20_000).contains(blockSize) else {
        throw CLIError(code: "input.invalid", message: "--blocks 1…10000, --warmup-blocks 0…1000, --block-size 1…20000")
      }
      let log: (String) -> Void = { message in if output == .text { say(message) } }
      let genesis = Workload.sampleCity(try Genesis.load(path: try shippedGenesis("sample-city")), validators: 4)
      let validatorKeys = Devnet.validatorKeys(of: genesis)

      let total = (blocks + warmupBlocks) * blockSize
      log("pre-signing \(total) transactions …")
      let bureaus = try Workload.benchBureaus(of: genesis)
      let transactions = Workload.interleaved(
        Workload.sign(genesis: genesis, chainId: genesis.chainId, count: total, bureaus: bureaus, starts: [:]))

      let directory = dir ?? NSTemporaryDirectory() + "dirledger-store-bench-\(getpid())"
      defer { if dir == nil { try? FileManager.default.removeItem(atPath: directory) } }
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
      let store = try LedgerStore(path: directory + "/ledger", genesis: genesis)
      log("executing and committing \(warmupBlocks) + \(blocks) blocks of \(blockSize) in \(directory) …")

      var executeMicroseconds: [Double] = []
      var commitMicroseconds: [Double] = []
      var rejected = 0
      var cpuAtWindowStart = Self.processCPUSeconds()
      var windowStart = ContinuousClock.now
      var nodeReadsAtWindowStart = store.treeNodesReadFromDisk
      let blocksOfTransactions = transactions.chunks(of: blockSize).prefix(warmupBlocks + blocks)
      for (blockIndex, blockTransactions) in blocksOfTransactions.enumerated() {
        if blockIndex == warmupBlocks {
          cpuAtWindowStart = Self.processCPUSeconds()
          windowStart = ContinuousClock.now
          nodeReadsAtWindowStart = store.treeNodesReadFromDisk
        }
        let slice = Array(blockTransactions)
        // Grants and attestations were signed with the wall clock's time: blocks follow it.
        let timeMs = max(store.head.timeMs, UInt64(Date().timeIntervalSince1970 * 1_000))
        let executeStarted = ContinuousClock.now
        let execution = try store.execute(slice, timeMs: timeMs, signatureCheck: .alreadyVerified)
        let block = store.nextBlock(
          transactions: slice, timeMs: timeMs, execution: execution, proposer: validatorKeys[0].publicKey)
        let executed = ContinuousClock.now
        let certificate = Devnet.certify(block.header, keys: validatorKeys, quorum: execution.validatorSet.quorum)
        let certified = ContinuousClock.now
        try store.commit(block, certificate: certificate, execution: execution)
        let committed = ContinuousClock.now
        rejected += execution.results.count { !$0.isAccepted }
        guard blockIndex >= warmupBlocks else { continue }
        executeMicroseconds.append((executed - executeStarted).seconds * 1e6 / Double(slice.count))
        commitMicroseconds.append((committed - certified).seconds * 1e6 / Double(slice.count))
      }
      let measured = blocks * blockSize
      let cpuMicroseconds = (Self.processCPUSeconds() - cpuAtWindowStart) * 1e6 / Double(measured)
      let elapsed = ContinuousClock.now - windowStart
      let totals = zip(executeMicroseconds, commitMicroseconds).map { $0 + $1 }
      let report = StoreReport(
        blocks: blocks, blockTransactions: blockSize, records: try Self.recordCount(store),
        rejectedTransactions: rejected,
        executeMicrosecondsPerTransaction: percentile(executeMicroseconds.sorted(), 0.5),
        commitMicrosecondsPerTransaction: percentile(commitMicroseconds.sorted(), 0.5),
        blockMicrosecondsPerTransaction: percentile(totals.sorted(), 0.5),
        cpuMicrosecondsPerTransaction: cpuMicroseconds,
        treeNodeReadsPerTransaction: Double(store.treeNodesReadFromDisk - nodeReadsAtWindowStart)
          / Double(measured),
        transactionsPerSecond: Double(measured) / elapsed.seconds,
        peakRSSMegabytes: Self.peakRSSMegabytes())
      if output == .json {
        print(try JSONOutput.string(report))
      } else {
        report.printTable()
      }
    }

    static func processCPUSeconds() -> Double {
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
      return seconds(usage.ru_utime) + seconds(usage.ru_stime)
    }

    static func peakRSSMegabytes() -> Double {
      var usage = rusage()
      getrusage(RUSAGE_SELF.rawValue, &usage)
      return Double(usage.ru_maxrss) / 1_024  // kilobytes on Linux
    }

    /// Records in the state after the run: the tree's size, which sets how deep each update goes.
    static func recordCount(_ store: LedgerStore) throws -> Int {
      var count = 0
      var after: RecordKey?
      while true {
        let page = try store.records(pathPrefix: "", after: after, limit: 10_000)
        count += page.count
        guard page.count == 10_000, let last = page.last else { return count }
        after = last.0
      }
    }
  }

  struct StoreReport: Encodable {
    let blocks: Int
    let blockTransactions: Int
    let records: Int
    let rejectedTransactions: Int
    let executeMicrosecondsPerTransaction: Double
    let commitMicrosecondsPerTransaction: Double
    let blockMicrosecondsPerTransaction: Double
    let cpuMicrosecondsPerTransaction: Double
    /// Tree nodes read from LevelDB, not found in the node cache.
    let treeNodeReadsPerTransaction: Double
    let transactionsPerSecond: Double
    let peakRSSMegabytes: Double

    func printTable() {
      say("")
      say(
        String(
          format: "per transaction     execute %.1f µs + commit %.1f µs = %.1f µs (medians over %d blocks of %d)",
          executeMicrosecondsPerTransaction, commitMicrosecondsPerTransaction, blockMicrosecondsPerTransaction,
          blocks, blockTransactions))
      say(
        String(
          format: "process CPU         %.1f µs per transaction (LevelDB's background thread included)",
          cpuMicrosecondsPerTransaction))
      say(
        String(
          format: "tree-node reads     %.3f per transaction from LevelDB (not in the node cache)",
          treeNodeReadsPerTransaction))
      say(
        String(format: "throughput          %.0f tx/s on one thread, no signatures, no network", transactionsPerSecond))
      say(
        "state               \(records) records after the run; \(rejectedTransactions) transactions rejected (warm-up included)"
      )
      say(String(format: "peak RSS            %.0f MB (the pre-signed transactions included)", peakRSSMegabytes))
    }
  }
}

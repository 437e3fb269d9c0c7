import ArgumentParser
import Dispatch
import Foundation
import Ledger
import NIOCore
import NIOHTTP1
import Node

extension BenchCommand {
  /// `ledger-cli bench`: the whole system, real processes, sockets and LevelDB.
  struct Network: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "network",
      abstract: "Throughput and latency of a local (or given) network under pre-signed load.",
      discussion: """
        Measures the signature-verification ceiling first (10,000 BIP-340 verifies), starts N \
        validators with the sample city on loopback (or uses --node URLs), pre-signs a mix of \
        directory publications and revisions, grants and revocations, attestations and share \
        records across the sample city's bureaus, then submits them through the public API in \
        batches (--batch 1: single transactions) at --rate tx/s or as fast as accepted. Reports \
        committed tx/s after warm-up, commit latency (submission → seen committed), block size, \
        view changes, CPU seconds per committed transaction and peak RSS per node, bytes on \
        disk per transaction, and the throughput as a fraction of the ceiling. See docs/BENCHMARKS.md.
        """)

    @Option(help: "Validators to start (ignored with --node).") var nodes: Int = 4
    @Option(name: .customLong("node"), help: "Use a running network instead (repeatable); no CPU/RSS/disk figures.")
    var urls: [String] = []
    @Option(help: "Seconds measured after warm-up.") var duration: Double = 60
    @Option(help: "Seconds of warm-up, not counted.") var warmup: Double = 5
    @Option(help: "Offered tx/s; absent: open loop (as fast as accepted).") var rate: Double?
    @Option(help: "Transactions per submission (1 = single transactions).") var batch: Int = 500
    @Option(help: "Concurrent submitters; each owns a share of the bureaus and sends their transactions in order.")
    var connections: Int = 4
    @Option(
      help:
        "binary (canonical bytes, application/octet-stream) or json (hex in JSON): how submissions carry transactions."
    ) var body: SubmissionBody = .binary
    @Option(
      help:
        "consensus.block_transactions_max of the validators it starts (default: the node's own, 5000); ignored with --node."
    ) var blockMax: Int?
    @Option(help: "Transactions to pre-sign in open loop (default: enough for 8,000 tx/s).") var transactions: Int?
    @Option(
      help:
        "Directory for the network, kept afterwards (default: a new temporary directory, removed after a successful run)."
    ) var dir: String?
    @Option(help: "Seconds of the proof-lookup measurement afterwards (0: skip).") var proofSeconds: Double = 5
    @Option(help: "text or json.") var output: OutputFormat = .text

    func run() async throws {
      guard (1...64).contains(nodes), duration > 0, warmup >= 0, (1...10_000).contains(batch),
        (1...256).contains(connections), (1...Limits.blockTransactionCountMax).contains(blockMax ?? 1)
      else {
        throw CLIError(
          code: "input.invalid",
          message:
            "--nodes 1…64, --batch 1…10000, --connections 1…256, --block-max 1…\(Limits.blockTransactionCountMax)")
      }
      let log: (String) -> Void = { message in if output == .text { say(message) } }

      // 1. The ceiling, on this machine, now.
      let verifyMicroseconds = Self.measureVerify()
      let cores = ProcessInfo.processInfo.activeProcessorCount
      let validatorCount =
        urls.isEmpty
        ? nodes : (try await APIClient(node: urls[0]).get("/v1/status")["validators"] as? [Any])?.count ?? nodes
      let ceiling = Double(cores) / (Double(validatorCount) * verifyMicroseconds * 1e-6)
      log(
        String(
          format: "ceiling: %d cores / (%d validators × %.1f µs per verify) = %.0f tx/s", cores, validatorCount,
          verifyMicroseconds, ceiling))

      // 2. The network.
      var network: LocalNetwork?
      let apis: [String]
      let genesis: Genesis
      let sample = try Genesis.load(path: try shippedGenesis("sample-city"))
      let sampleCity = { (validators: Int) in Workload.sampleCity(sample, validators: validators) }
      if urls.isEmpty {
        let benchGenesis = sampleCity(nodes)
        let directory = dir ?? NSTemporaryDirectory() + "dirledger-bench-\(getpid())"
        log("starting \(nodes) validators with the sample city in \(directory) …")
        let started = try LocalNetwork.create(
          directory: directory, genesis: benchGenesis, genesisJSON: [UInt8](try benchGenesis.jsonData()), observers: 0,
          configure: { config in if let blockMax { config.consensus.blockTransactionsMax = blockMax } })
        try await started.start()
        network = started
        apis = started.validators.map(\.api)
        genesis = benchGenesis
      } else {
        apis = urls
        let status = try await APIClient(node: urls[0]).get("/v1/status")
        guard status["chainId"] as? String == Devnet.chainId else {
          throw CLIError(
            code: "bench.not_devnet", message: "--node must be a devnet-style network (the load signs with devnet keys)"
          )
        }
        // A network an earlier bench started (its nodes restarted by hand) has the sample city.
        let candidate = sampleCity(validatorCount)
        genesis =
          status["genesisHash"] as? String == candidate.hash.hex
          ? candidate : Devnet.genesis(validatorCount: validatorCount)
      }
      defer { network?.stop() }

      // 3. The load, signed before the clock starts.
      let total =
        rate.map { Int($0 * (duration + warmup) * 1.2) + batch } ?? (transactions ?? Int(8_000 * (duration + warmup)))
      log("pre-signing \(total) transactions …")
      let signStart = ContinuousClock.now
      let workload = try await Workload.make(
        genesis: genesis, chainId: genesis.chainId, count: total, batch: batch, connections: connections, apis: apis,
        body: body)
      log(
        String(format: "pre-signed in %.1f s: %@", (ContinuousClock.now - signStart).seconds, workload.mixDescription))

      let before = network.map { Self.processStats($0) } ?? [:]
      // The load client shares the cores: its own CPU and the wall time of
      // the same interval tell how busy the machine was and who kept it so.
      let clientBefore = Self.processStat(pid: getpid())
      let wallBefore = ContinuousClock.now
      let diskBefore = network.map { Self.diskBytes($0) } ?? 0
      // The watcher follows the last node, so its reads do not land on the
      // first primary (validator 0) and inflate its memory and CPU.
      let watched = apis[apis.count - 1]
      let startHeight = try await APIClient(node: watched).height()

      // 4. Submit and watch commits.
      let tracker = CommitTracker(submitted: workload.leafHashes)
      let watcher = Task { try await tracker.follow(api: watched, from: startHeight + 1) }
      let clock = ContinuousClock.now
      let stop = clock + .milliseconds(Int64((warmup + duration) * 1_000))
      let submitted = try await Submitter(
        batches: workload.bodies, lanes: workload.lanes, apis: apis, rate: rate, batchSize: batch, body: body
      )
      .run(until: stop, tracker: tracker)
      // Every pre-signed transaction went out before the time was up: the
      // window then ends at the last commit, not at `stop`, or the idle
      // tail would be counted as if the network had been slow.
      let supplyExhausted = ContinuousClock.now < stop
      if supplyExhausted { await tracker.waitForDrain(until: stop) }
      try await Task.sleep(for: .seconds(2))  // let the last blocks land
      watcher.cancel()
      let windowStart = clock + .milliseconds(Int64(warmup * 1_000))
      let windowEnd = supplyExhausted ? max(windowStart, min(stop, tracker.lastCommitAt ?? stop)) : stop
      let summary = tracker.summary(from: windowStart, to: windowEnd)
      if supplyExhausted {
        say(
          String(
            format:
              "note: the %d pre-signed transactions ran out; the window ends at the last commit, after %.0f s (raise --transactions)",
            workload.leafHashes.reduce(0) { $0 + $1.count }, max(0, (windowEnd - windowStart).seconds)))
      }

      // 5. Node costs.
      let after = network.map { Self.processStats($0) } ?? [:]
      let clientCPUSeconds =
        (Self.processStat(pid: getpid())?.cpuSeconds ?? 0) - (clientBefore?.cpuSeconds ?? 0)
      let wallSeconds = (ContinuousClock.now - wallBefore).seconds
      let diskAfter = network.map { Self.diskBytes($0) } ?? 0
      var views: [Int] = []
      for api in apis {
        views.append(((try? await APIClient(node: api).get("/v1/status"))?["view"] as? NSNumber)?.intValue ?? -1)
      }
      let committedAll = max(1, tracker.committedCount)
      var perNode: [NodeCost] = []
      for member in network?.validators ?? [] {
        let cpu = (after[member.pid]?.cpuSeconds ?? 0) - (before[member.pid]?.cpuSeconds ?? 0)
        let metrics =
          (try? await APIClient(node: member.api).getData("/metrics")).map { String(decoding: $0, as: UTF8.self) } ?? ""
        func value(_ name: String) -> Double {
          metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap {
            Double($0.split(separator: " ").last ?? "")
          } ?? 0
        }
        perNode.append(
          NodeCost(
            id: member.id, cpuSecondsPerTransaction: cpu / Double(committedAll),
            cpuMicrosecondsPerTransaction: cpu / Double(committedAll) * 1e6,
            peakRSSMegabytes: (after[member.pid]?.peakRSSKilobytes ?? 0) / 1_024,
            // Transactions still pending at the end were checked too: counting
            // only the committed ones read a backlog of 20,000 as 8 % of checks made twice.
            signatureChecksPerTransaction: value("ledger_signature_checks_total")
              / max(1, value("ledger_committed_transactions_total") + value("ledger_mempool_transactions"))))
      }

      // 6. Proofs against one node.
      var proofs: [String: Double] = [:]
      if proofSeconds > 0, let url = URL(string: apis[0]), let host = url.host, let port = url.port {
        let paths = [
          "bureau/BJ-GAJ", "directory/BJ-GAJ/BJ-GAJ-R01", "grant/BJ-GAJ/BJ-GAJ-G001", "duty/BJ-ZJW/BJ-ZJW-D1",
        ].map {
          "/v1/proofs/record?key=\($0)&format=binary"
        }
        let load = try await HTTPLoad.run(host: host, port: port, paths: paths, connections: 8, seconds: proofSeconds)
        proofs["recordProofsPerSecond"] = load.perSecond
        let bytes = try await APIClient(node: apis[0]).getData(
          "/v1/proofs/record", query: ["key": "grant/BJ-GAJ/BJ-GAJ-G001", "format": "binary"])
        let bundle = try ProofBundle(canonicalBytes: [UInt8](bytes))
        let verifier = ProofVerifier(genesis: genesis)
        proofs["recordVerifyMicroseconds"] = try BenchCommand.Proofs.medianMicroseconds(of: 500) {
          verifier.verify(bundle)
        }
        proofs["recordBundleBytes"] = Double(bytes.count)
      }

      let report = NetworkReport(
        networkDirectory: network?.directory, networkDirectoryKept: network.map { _ in dir != nil },
        validators: validatorCount, cores: cores, verifyMicroseconds: verifyMicroseconds,
        ceilingTransactionsPerSecond: ceiling,
        offeredRate: rate, batch: batch, body: body.rawValue, connections: connections, warmupSeconds: warmup,
        durationSeconds: max(0, (windowEnd - windowStart).seconds), supplyExhausted: supplyExhausted,
        submitted: submitted, committedInWindow: summary.count, committedTransactionsPerSecond: summary.perSecond,
        fractionOfCeiling: summary.perSecond / ceiling, latencyMs: summary.latencyMs,
        meanBlockTransactions: summary.meanBlockSize,
        blockTransactionsMax: network == nil ? nil : blockMax ?? NodeConfig.ConsensusSettings().blockTransactionsMax,
        blocks: summary.blocks, views: views, nodes: perNode,
        diskBytesPerTransaction: network == nil ? nil : Double(diskAfter - diskBefore) / Double(committedAll),
        loadClientCPUMicrosecondsPerTransaction: clientCPUSeconds / Double(committedAll) * 1e6,
        // Nodes and client together, over the cores: 1 is a machine with no idle time.
        busyFractionOfCores: network == nil
          ? nil
          : (perNode.reduce(0) { $0 + $1.cpuSecondsPerTransaction } * Double(committedAll) + clientCPUSeconds)
            / (wallSeconds * Double(cores)),
        proofs: proofs)
      // A run leaves gigabytes of node homes behind (≈ 1.5 KB per transaction
      // and node); a temporary directory goes once the numbers are in, and
      // stays only when asked for (--dir) or when the run failed, for its logs.
      if let started = network, dir == nil {
        started.stop()
        network = nil
        try? FileManager.default.removeItem(atPath: started.directory)
      }
      if output == .json {
        print(try JSONOutput.string(report))
      } else {
        report.printTable()
      }
    }

    static func measureVerify() -> Double {
      let key = Devnet.key("bench/verify")
      let digests = (0..<100).map { SHA256.hash(Array("message \($0)".utf8)) }
      let signatures = digests.map { key.sign(digest: $0) }
      let publicKey = key.publicKey
      let start = ContinuousClock.now
      var valid = 0
      for round in 0..<10_000 where publicKey.verify(signatures[round % 100], digest: digests[round % 100]) {
        valid += 1
      }
      precondition(valid == 10_000)
      return (ContinuousClock.now - start).seconds * 1e6 / 10_000
    }

    struct ProcessStat {
      let cpuSeconds: Double
      let peakRSSKilobytes: Double
    }

    static func processStats(_ network: LocalNetwork) -> [Int32: ProcessStat] {
      var stats: [Int32: ProcessStat] = [:]
      for member in network.members { stats[member.pid] = processStat(pid: member.pid) }
      return stats
    }

    /// CPU time so far and peak RSS of process `pid`, from /proc; nil when it is gone.
    static func processStat(pid: Int32) -> ProcessStat? {
      guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
        let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8),
        let nameEnd = stat.lastIndex(of: ")")
      else { return nil }
      // Fields after the parenthesised command name: utime and stime are the 12th and 13th.
      let fields = stat[stat.index(after: nameEnd)...].split(separator: " ")
      guard fields.count > 12 else { return nil }
      let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
      let cpu = (Double(fields[11]) ?? 0) + (Double(fields[12]) ?? 0)
      let hwm = status.split(separator: "\n").first { $0.hasPrefix("VmHWM:") }?.split(separator: " ").dropFirst()
        .first
      return ProcessStat(cpuSeconds: cpu / ticks, peakRSSKilobytes: Double(hwm ?? "0") ?? 0)
    }

    static func diskBytes(_ network: LocalNetwork) -> Int {
      network.validators.reduce(0) { total, member in
        // The store's directory and the height-ordered database inside it.
        let path = member.home + "/data/ledger"
        let names = FileManager.default.subpaths(atPath: path) ?? []
        return total
          + names.reduce(0) { sum, name in
            let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
            guard attributes?[.type] as? FileAttributeType == .typeRegular else { return sum }
            return sum + ((attributes?[.size] as? Int) ?? 0)
          }
      } / max(1, network.validators.count)
    }
  }

  struct NodeCost: Encodable {
    let id: String
    let cpuSecondsPerTransaction: Double
    let cpuMicrosecondsPerTransaction: Double
    let peakRSSMegabytes: Double
    /// Over the node's whole life, so it includes what was checked but not yet committed.
    /// Signature checks per transaction this node committed or holds pending (1 when none is checked twice).
    let signatureChecksPerTransaction: Double
  }

  struct NetworkReport: Encodable {
    /// Where the network this bench started ran; absent with `--node`.
    let networkDirectory: String?
    /// True with `--dir`; false when the bench made the directory and removed it.
    let networkDirectoryKept: Bool?
    let validators: Int
    let cores: Int
    let verifyMicroseconds: Double
    let ceilingTransactionsPerSecond: Double
    let offeredRate: Double?
    let batch: Int
    /// How submissions carried their transactions: `binary` or `json`.
    let body: String
    let connections: Int
    let warmupSeconds: Double
    /// The measured window: `--duration`, or less when `supplyExhausted`.
    let durationSeconds: Double
    /// Every pre-signed transaction was submitted before the window was over.
    let supplyExhausted: Bool
    let submitted: Int
    let committedInWindow: Int
    let committedTransactionsPerSecond: Double
    let fractionOfCeiling: Double
    let latencyMs: [String: Double]
    let meanBlockTransactions: Double
    /// The validators' `consensus.block_transactions_max`; nil for a network the bench did not start.
    let blockTransactionsMax: Int?
    let blocks: Int
    let views: [Int]
    let nodes: [NodeCost]
    let diskBytesPerTransaction: Double?
    /// The load generator's own CPU (HTTP, following the chain) per committed transaction.
    let loadClientCPUMicrosecondsPerTransaction: Double
    /// CPU of the nodes and the load client over the cores and the run's wall
    /// time; near 1, the machine had no idle time and CPU was the limit.
    /// Absent with `--node`, whose processes this bench cannot see.
    let busyFractionOfCores: Double?
    let proofs: [String: Double]

    func printTable() {
      say("")
      say(
        String(
          format:
            "committed           %.0f tx/s sustained over %.0f s after %.0f s warm-up (%d transactions, %d blocks)",
          committedTransactionsPerSecond, durationSeconds, warmupSeconds, committedInWindow, blocks))
      say(
        String(
          format: "of the ceiling      %.1f%% of %.0f tx/s (%d validators, %.1f µs per verify, %d cores)",
          fractionOfCeiling * 100, ceilingTransactionsPerSecond, validators, verifyMicroseconds, cores))
      say(
        "offered             " + (offeredRate.map { String(format: "%.0f tx/s", $0) } ?? "open loop")
          + " in batches of \(batch) (\(body)) on \(connections) connections; \(submitted) submitted")
      say(
        String(
          format: "commit latency ms   p50 %.0f  p90 %.0f  p99 %.0f  max %.0f", latencyMs["p50"] ?? 0,
          latencyMs["p90"] ?? 0, latencyMs["p99"] ?? 0, latencyMs["max"] ?? 0))
      say(
        String(format: "block size          %.0f transactions on average", meanBlockTransactions)
          + (blockTransactionsMax.map { " (at most \($0))" } ?? ""))
      say("views at the end    \(views.map(String.init).joined(separator: " ")) (0 = no view change)")
      for node in nodes {
        say(
          String(
            format: "node %-14@ %.0f µs CPU per committed tx, peak RSS %.0f MB, %.2f signature checks per tx",
            node.id, node.cpuMicrosecondsPerTransaction, node.peakRSSMegabytes,
            node.signatureChecksPerTransaction))
      }
      if let diskBytesPerTransaction {
        say(
          String(format: "disk                %.0f bytes per committed transaction per node", diskBytesPerTransaction))
      }
      say(
        String(format: "load client         %.0f µs CPU per committed tx", loadClientCPUMicrosecondsPerTransaction)
          + (busyFractionOfCores.map { String(format: "; machine busy %.0f%% of %d cores", $0 * 100, cores) } ?? ""))
      if let networkDirectory, let networkDirectoryKept {
        say("network directory   \(networkDirectory) (\(networkDirectoryKept ? "kept" : "removed"))")
      }
      if let rate = proofs["recordProofsPerSecond"] {
        say(
          String(
            format:
              "proofs              %.0f record proofs/s from one node; bundle %.0f B, verified offline in %.0f µs",
            rate, proofs["recordBundleBytes"] ?? 0, proofs["recordVerifyMicroseconds"] ?? 0))
      }
    }
  }
}

/// The pre-signed load: per bureau, cycles of publish → revise → attest →
/// grant → share → revoke, signed by the bureau's devnet operator key.
struct Workload {
  let bodies: [Data]
  /// Per body, its transactions' leaf hashes: how the load client knows them in a block.
  let leafHashes: [[Hash256]]
  /// Per connection, the indexes of the bodies it sends, in order.
  let lanes: [[Int]]
  let mixDescription: String

  static func make(
    genesis: Genesis, chainId: String, count: Int, batch: Int, connections: Int, apis: [String],
    body: SubmissionBody
  ) async throws -> Workload {
    let bureaus = try benchBureaus(of: genesis)
    var starts: [String: UInt64] = [:]
    let client = try APIClient(node: apis[0])
    for bureau in bureaus { starts[bureau] = try await client.nextSequence(of: Devnet.operatorKey(bureau).publicKey) }
    let signed = sign(genesis: genesis, chainId: chainId, count: count, bureaus: bureaus, starts: starts)
    // Each lane (one connection) owns a share of the bureaus and sends only
    // their transactions, interleaved, each signer in sequence order: like a
    // bureau submitting its own work through its own node, and no lane's
    // refused batch can leave a gap in another lane's signers.
    var bodies: [Data] = []
    var leafHashes: [[Hash256]] = []
    var lanes = [[Int]](repeating: [], count: connections)
    let share = Double(count) / Double(signed.reduce(0) { $0 + $1.count })
    for lane in 0..<connections {
      var ordered = interleaved(stride(from: lane, to: signed.count, by: connections).map { signed[$0] })
      ordered = Array(ordered.prefix(Int((Double(ordered.count) * share).rounded(.up))))
      for slice in ordered.chunks(of: batch) {
        lanes[lane].append(bodies.count)
        leafHashes.append(slice.map(\.leafHash))
        bodies.append(body.encode(Array(slice), single: batch == 1))
      }
    }
    return Workload(
      bodies: bodies, leafHashes: leafHashes, lanes: lanes,
      mixDescription: mixDescription(bureaus: bureaus.count, submissions: bodies.count))
  }

  static func mixDescription(bureaus: Int, submissions: Int) -> String {
    "\(bureaus) bureaus × (publishDirectory, reviseDirectory, attestData, grantAccess, recordShare, revokeGrant), \(submissions) submissions"
  }

  /// A devnet genesis with `validators` validators and the bureaus, duties,
  /// directories and grants of the sample city (`sample`).
  static func sampleCity(_ sample: Genesis, validators: Int) -> Genesis {
    Devnet.genesis(
      validatorCount: validators, bureaus: sample.bureaus, duties: sample.duties, directories: sample.directories,
      grants: sample.grants)
  }

  /// The genesis bureaus that declare a duty: they can publish directories.
  static func benchBureaus(of genesis: Genesis) throws -> [String] {
    let bureaus = genesis.bureaus.map(\.bureauId).filter { bureau in genesis.duties.contains { $0.bureauId == bureau } }
    guard bureaus.count >= 2 else {
      throw CLIError(code: "bench.no_bureaus", message: "the genesis has too few bureaus with duties")
    }
    return bureaus
  }

  /// One list per bureau, in its own sequence order.
  static func interleaved(_ lists: [[SignedTransaction]]) -> [SignedTransaction] {
    let length = lists.map(\.count).max() ?? 0
    var ordered: [SignedTransaction] = []
    ordered.reserveCapacity(lists.reduce(0) { $0 + $1.count })
    for position in 0..<length {
      for list in lists where position < list.count { ordered.append(list[position]) }
    }
    return ordered
  }

  /// About `count` transactions, one list per bureau, each starting at the
  /// bureau's next sequence number in `starts` (absent: 0).
  static func sign(
    genesis: Genesis, chainId: String, count: Int, bureaus: [String], starts: [String: UInt64]
  ) -> [[SignedTransaction]] {
    let perBureau = (count + bureaus.count - 1) / bureaus.count
    let nowMs = UInt64(Date().timeIntervalSince1970 * 1_000)
    let run = UInt32.random(in: 0...UInt32.max)
    // Each bureau's transactions are signed on its own thread: all cores, no shared state.
    nonisolated(unsafe) var signed = [[SignedTransaction]](repeating: [], count: bureaus.count)
    let dutyOf = Dictionary(genesis.duties.map { ($0.bureauId, $0.dutyId) }, uniquingKeysWith: { first, _ in first })
    DispatchQueue.concurrentPerform(iterations: bureaus.count) { index in
      let bureau = bureaus[index]
      let key = Devnet.operatorKey(bureau)
      let grantee = bureaus[(index + 1) % bureaus.count]
      var sequence = starts[bureau] ?? 0
      var list: [SignedTransaction] = []
      list.reserveCapacity(perBureau)
      func add(_ payload: Payload) {
        guard list.count < perBureau else { return }
        list.append(
          SignedTransaction(
            body: TransactionBody(chainId: chainId, signer: key.publicKey, sequence: sequence, payload: payload),
            signedBy: [key]))
        sequence += 1
      }
      var cycle = 0
      while list.count < perBureau {
        let directoryId = "B\(run % 100_000)-\(cycle)"
        let grantId = "G\(run % 100_000)-\(cycle)"
        let items = [
          DataItem(name: "统一社会信用代码", type: .text, description: ""), DataItem(name: "名称", type: .text, description: ""),
        ]
        var directory = Directory(
          bureauId: bureau, directoryId: directoryId, title: "压测目录 \(cycle)", description: "bench",
          dutyIds: [dutyOf[bureau]!],
          items: items, shareType: .conditional, shareCondition: "依职责申请", openType: .notOpen, updateCycle: .daily)
        add(.publishDirectory(directory))
        directory.title += "（修订）"
        add(.reviseDirectory(directory))
        let dataHash = SHA256.hash(Array("\(run)/\(bureau)/\(cycle)".utf8))
        add(
          .attestData(
            Attestation(
              bureauId: bureau, directoryId: directoryId, kind: .release, dataHash: dataHash, recordCount: 100,
              producedAtMs: nowMs)))
        add(
          .grantAccess(
            Grant(
              grantorId: bureau, grantId: grantId, granteeId: grantee,
              scope: AccessScope(
                directoryId: directoryId, items: ["名称"], purpose: "压测", validFromMs: nowMs - 3_600_000,
                validUntilMs: nowMs + 86_400_000))))
        add(
          .recordShare(
            ShareRecord(
              providerId: bureau, consumerId: grantee, directoryId: directoryId, grantId: grantId, dataHash: dataHash)))
        add(.revokeGrant(Retirement(bureauId: bureau, recordId: grantId, reason: "压测")))
        cycle += 1
      }
      signed[index] = list
    }
    return signed
  }
}

/// When each transaction was submitted and when it was seen committed, by
/// leaf hash: the client reads each committed block's transactions as bytes
/// and hashes them, so it decodes none and shares the cores with the nodes
/// as little as it can.
final class CommitTracker: @unchecked Sendable {
  private let lock = NSLock()
  private var submittedAt: [Hash256: ContinuousClock.Instant] = [:]
  private var commits: [(at: ContinuousClock.Instant, latencyNs: UInt64?)] = []
  private var blockSizes: [(ContinuousClock.Instant, Int)] = []
  private let batchLeafHashes: [[Hash256]]

  init(submitted: [[Hash256]]) { batchLeafHashes = submitted }

  var committedCount: Int { lock.withLock { commits.count } }
  var lastCommitAt: ContinuousClock.Instant? { lock.withLock { commits.last?.at } }

  /// Waits until everything submitted is seen committed, nothing has
  /// committed for 5 s (what is left will not commit), or `stop`.
  func waitForDrain(until stop: ContinuousClock.Instant) async {
    let expected = lock.withLock { submittedAt.count }
    var lastCount = committedCount
    var lastProgress = ContinuousClock.now
    while ContinuousClock.now < stop, committedCount < expected {
      try? await Task.sleep(for: .milliseconds(100))
      let count = committedCount
      if count > lastCount {
        lastCount = count
        lastProgress = ContinuousClock.now
      } else if ContinuousClock.now - lastProgress > .seconds(5) {
        return
      }
    }
  }

  func markSubmitted(batch index: Int, at instant: ContinuousClock.Instant) {
    lock.withLock {
      for leafHash in batchLeafHashes[index] where submittedAt[leafHash] == nil { submittedAt[leafHash] = instant }
    }
  }

  /// Reads every new block from `api` (binary) and records its transactions.
  func follow(api: String, from firstHeight: UInt64) async throws {
    let client = try APIClient(node: api)
    var next = firstHeight
    while !Task.isCancelled {
      let head = (try? await client.height()) ?? 0
      while next <= head {
        let bytes = try await client.getData("/v1/blocks/\(next)", query: ["format": "binary"])
        let leafHashes = try Self.transactionLeafHashes(ofBlock: [UInt8](bytes))
        let now = ContinuousClock.now
        lock.withLock {
          blockSizes.append((now, leafHashes.count))
          for leafHash in leafHashes {
            let latency = submittedAt[leafHash].map { UInt64(max(0, (now - $0).seconds) * 1e9) }
            commits.append((now, latency))
          }
        }
        next += 1
      }
      try? await Task.sleep(for: .milliseconds(20))
    }
  }

  /// The leaf hash of each transaction in a canonical block (docs/FORMAT.md
  /// "Blocks": the header, then the transactions as length-prefixed bytes).
  static func transactionLeafHashes(ofBlock bytes: [UInt8]) throws(FormatError) -> [Hash256] {
    var reader = CanonicalReader(bytes)
    let header = try reader.read(BlockHeader.self, "header")
    let count = Int(header.transactionCount)
    let leafHashes = try reader.read(array: "transactions", count: count...count) {
      (reader) throws(FormatError) in
      let range = try reader.read(byteRange: "", limit: Limits.transactionBytesMax)
      return bytes.withUnsafeBytes { MerkleTree.leafHash(UnsafeRawBufferPointer(rebasing: $0[range])) }
    }
    try reader.finish()
    return leafHashes
  }

  struct Summary {
    let count: Int
    let perSecond: Double
    let latencyMs: [String: Double]
    let meanBlockSize: Double
    let blocks: Int
  }

  func summary(from start: ContinuousClock.Instant, to end: ContinuousClock.Instant) -> Summary {
    lock.withLock {
      let window = commits.filter { $0.at >= start && $0.at <= end }
      let latencies = commits.compactMap(\.latencyNs).sorted()
      let blocks = blockSizes.filter { $0.0 >= start && $0.0 <= end }
      return Summary(
        count: window.count, perSecond: Double(window.count) / max(1e-9, (end - start).seconds),
        latencyMs: [
          "p50": Double(percentile(latencies, 0.5)) / 1e6, "p90": Double(percentile(latencies, 0.9)) / 1e6,
          "p99": Double(percentile(latencies, 0.99)) / 1e6, "max": Double(latencies.last ?? 0) / 1e6,
        ],
        meanBlockSize: blocks.isEmpty ? 0 : Double(blocks.reduce(0) { $0 + $1.1 }) / Double(blocks.count),
        blocks: blocks.count)
    }
  }
}

/// How the load client's submissions carry their transactions
/// (docs/openapi.yaml, `POST /v1/transactions` and `/v1/transactions/batch`).
enum SubmissionBody: String, ExpressibleByArgument, Sendable {
  /// Canonical bytes: one transaction, or a batch as `list<bytes>` (docs/FORMAT.md §5's layout).
  case binary
  /// `{"transaction": hex}` or `{"transactions": [hex, …]}`.
  case json

  var contentType: String { self == .binary ? "application/octet-stream" : "application/json" }

  func encode(_ transactions: [SignedTransaction], single: Bool) -> Data {
    switch self {
    case .binary:
      if single { return Data(transactions[0].canonicalBytes) }
      var writer = CanonicalWriter(capacity: transactions.reduce(8) { $0 + $1.encodedByteCount + 3 })
      writer.write(transactionList: transactions)
      return Data(writer.bytes)
    case .json:
      let hexes = transactions.map { "\"" + Hex.encode($0.canonicalBytes) + "\"" }.joined(separator: ",")
      return Data((single ? "{\"transaction\":\(hexes)}" : "{\"transactions\":[\(hexes)]}").utf8)
    }
  }
}

/// Posts the pre-built bodies, one connection per lane, each lane in order
/// and round-robin over the nodes, paced to `rate` (shared by the lanes,
/// which take turns) when given; on 429 or 503 a lane waits and retries the same body before its next.
struct Submitter {
  let batches: [Data]
  let lanes: [[Int]]
  let apis: [String]
  let rate: Double?
  let batchSize: Int
  let body: SubmissionBody

  func run(until stop: ContinuousClock.Instant, tracker: CommitTracker) async throws -> Int {
    let start = ContinuousClock.now
    // Lanes take turns: lane L sends its k-th batch at slot k × lanes + L, so
    // the offered load is evenly spaced rather than four batches at once.
    let interval = rate.map { Double(batchSize) / $0 }
    let single = batchSize == 1
    return try await withThrowingTaskGroup(of: Int.self) { group in
      for (lane, indexes) in lanes.enumerated() {
        group.addTask {
          var sent = 0
          let api = apis[lane % apis.count]
          let url = api + (single ? "/v1/transactions" : "/v1/transactions/batch")
          for (position, index) in indexes.enumerated() {
            guard ContinuousClock.now < stop else { break }
            if let interval {
              let slot = Double(position * lanes.count + lane)
              let due = start + .milliseconds(Int64(slot * interval * 1_000))
              if due > ContinuousClock.now { try await Task.sleep(until: due, clock: .continuous) }
            }
            while ContinuousClock.now < stop {
              tracker.markSubmitted(batch: index, at: ContinuousClock.now)
              let status = try await NodeHTTP.exchange(
                .POST, url, body: batches[index], contentType: body.contentType
              ).status
              if status == 429 || status == 503 {
                try await Task.sleep(for: .milliseconds(50))
                continue
              }
              sent += batchSize
              break
            }
          }
          return sent
        }
      }
      return try await group.reduce(0, +)
    }
  }
}

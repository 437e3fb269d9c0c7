public import Ledger

/// Network faults the simulator can inject during the faulty phase.
public enum NetworkFault: String, CaseIterable, Sendable {
  case delay, reorder, duplicate, loss, partition, crash, skew
}

/// What Byzantine replicas do (each Byzantine replica does all that are enabled).
public enum ByzantineBehaviour: String, CaseIterable, Sendable {
  /// As primary, send different blocks to different backups.
  case equivocate
  /// Send votes in other validators' names with invalid signatures.
  case forge
  /// Resend old messages: its own stale votes and other replicas' messages as its own.
  case replay
  /// Sign votes for views and heights it is not in.
  case wrongView
  /// As primary, say nothing.
  case silent
  /// In view changes, claim nothing was prepared.
  case amnesia
}

public struct SimulationOptions: Sendable {
  public var seed: UInt64
  public var replicaCount = 4
  public var byzantineCount = 0
  public var faults = Set(NetworkFault.allCases)
  public var behaviours = Set(ByzantineBehaviour.allCases)
  /// Simulated milliseconds with faults on; then the network heals and crashed replicas restart.
  public var faultyPhaseMs: UInt64 = 15_000
  /// After healing, every honest replica must commit new blocks within this many simulated ms.
  public var livenessBoundMs: UInt64 = 30_000
  public var tickMs: UInt64 = 10
  public var transactionsPerBlock = 4
  /// How long the mempool takes to hand the primary a batch: the block interval's floor.
  public var batchIntervalMs: UInt64 = 20
  public var traceLinesMax = 300
  /// Only for the checker's own test: commit on this many votes instead of 2f + 1.
  public var commitQuorumForTesting: Int?
  /// Only for the checker's own test: replicas apply every validator-set change this many heights late.
  public var validatorSetLagHeightsForTesting: UInt64 = 0
  /// Primaries put `changeValidators` transactions in some blocks: additions
  /// of the spare replicas, removals, replacements, several pending at once,
  /// through every fault of the run.
  public var reconfigure = false
  /// Replicas that start as followers (not in the genesis set), for reconfiguration to add.
  public var spareReplicaCount = 0
  /// The ledger takes up to this long to apply a delivered block (uniform,
  /// per block, in order), so the next height waits for its set as in production.
  public var executionLatencyMsMax: UInt64 = 0

  public init(seed: UInt64) { self.seed = seed }
}

public struct SimulationResult: Sendable {
  public let seed: UInt64
  /// Nil when every check passed.
  public let failure: String?
  /// The last events before the end (or the failure), one per line.
  public let trace: [String]
  public let committedHeights: [UInt64]
  public let messagesDelivered: Int
  public let simulatedMs: UInt64
  public let viewsReached: UInt64
  public let dropped: [DropReason: Int]
  /// Heights at which the agreed chain switched validator sets.
  public let validatorSetChanges: Int
  /// Of those, the ones whose first block was decided in a later view than the block before it:
  /// the effective height fell inside a view change.
  public let validatorSetChangesAcrossViewChanges: Int
  public var passed: Bool { failure == nil }
}

/// Drives `replicaCount` replicas over a simulated network from one seed and
/// checks safety after every step and liveness after the network heals. The
/// same seed gives the same run, event for event.
public struct Simulator {
  typealias SimReplica = Replica<SimulatedVerifier>

  struct Host {
    var replica: SimReplica?
    var wal: [WALRecord] = []
    var chain: [CommittedBlock] = []
    /// The validator schedule after each height of `chain` (index 0: genesis).
    var schedules: [ValidatorSchedule]
    /// The ledger has applied `chain` through this height (and told the replica).
    var appliedHeight: UInt64 = 0
    var applyDueMs: UInt64 = 0
    /// Bumped at every crash, so an application scheduled before it is moot.
    var incarnation = 0
    var byzantine = false
    var tickMs: UInt64
    var seen: [ConsensusMessage] = []
  }

  enum Event {
    case deliver(ConsensusMessage, from: Int, to: Int)
    case tick(Int)
    case proposal(Int, height: UInt64, view: UInt64)
    case applied(Int, height: UInt64, incarnation: Int)
    case built(Int, height: UInt64, block: Block?, incarnation: Int)
    case validated(Int, blockHash: Hash256, valid: Bool, incarnation: Int)
    case crash(Int)
    case restart(Int)
    case partition([Int])
    case heal
  }

  let options: SimulationOptions
  let chainId = "simulated-chain"
  let keys: [PublicKey]
  /// The genesis set: the first `replicaCount` keys; the spares follow.
  let validators: ValidatorSet
  let executor = SimulatedExecutor()
  let ledger: SimulatedLedger
  let genesis: BlockHeader
  var random: SplitMix64
  var hosts: [Host] = []
  var queue = EventQueue<Event>()
  var now: UInt64 = 0
  var partition: Set<Int>?
  var healed = false
  var trace: [String] = []
  var messagesDelivered = 0
  var agreed: [UInt64: Hash256] = [:]
  /// First heights of new sets whose block was certified in a later view than the block before.
  var setChangesAcrossViewChanges = Set<UInt64>()
  var failure: String?

  public init(options: SimulationOptions) {
    precondition(options.replicaCount >= 1 && options.byzantineCount >= 0)
    self.options = options
    random = SplitMix64(seed: options.seed)
    keys = (0..<options.replicaCount + options.spareReplicaCount).map {
      PublicKey(rawValue: SHA256.hash(Array("sim-replica-\($0)".utf8)))
    }
    validators = ValidatorSet(keys.prefix(options.replicaCount).enumerated().map { Validator(nodeKey: $1, bureauId: "SIM-\($0)") })
    ledger = SimulatedLedger(validatorCountMin: max(1, 3 * options.byzantineCount + 1))
    genesis = SimulatedExecutor.genesis(chainId: chainId, validatorSetHash: validators.hash)
    var byzantine = Set<Int>()
    while byzantine.count < min(options.byzantineCount, options.replicaCount) {
      byzantine.insert(Int.random(in: 0..<options.replicaCount, using: &random))
    }
    let genesisSchedule = ValidatorSchedule(height: 0, current: validators, pending: [])
    for index in keys.indices {
      let skew = options.faults.contains(.skew) ? Double(Int.random(in: -30...30, using: &random)) / 100 : 0
      var host = Host(schedules: [genesisSchedule], tickMs: max(1, UInt64(Double(options.tickMs) * (1 + skew))))
      host.byzantine = byzantine.contains(index)
      hosts.append(host)
    }
  }

  func index(of key: PublicKey) -> Int { keys.firstIndex(of: key)! }

  /// A replica over what the host's ledger holds, as the node makes one at start.
  func makeReplica(_ index: Int) -> SimReplica {
    let host = hosts[index]
    var configuration = ReplicaConfiguration(chainId: chainId)
    configuration.commitQuorumForTesting = options.commitQuorumForTesting
    configuration.validatorSetLagHeightsForTesting = options.validatorSetLagHeightsForTesting
    return SimReplica(
      configuration: configuration, signer: SimulatedSigner(publicKey: keys[index]),
      verifier: SimulatedVerifier(), validators: Self.epochs(host.schedules),
      committedHeader: host.chain.last?.block.header ?? genesis, committedCertificate: host.chain.last?.certificate,
      wal: host.wal)
  }

  /// The sets in force from height 1 through the height above the last schedule.
  static func epochs(_ schedules: [ValidatorSchedule]) -> ValidatorEpochs {
    var epochs: [(fromHeight: UInt64, validators: ValidatorSet)] = []
    for schedule in schedules {
      let next = schedule.validatorsInForce(at: schedule.height + 1)
      if epochs.last?.validators != next { epochs.append((schedule.height + 1, next)) }
    }
    return ValidatorEpochs(epochs, knownThroughHeight: schedules.last!.height + 1)
  }

  // MARK: Running

  public mutating func run() -> SimulationResult {
    for index in hosts.indices {
      hosts[index].replica = makeReplica(index)
      run(index, .transactionsPending(true))
      queue.push(.tick(index), at: UInt64(index))
    }
    scheduleFaults()
    let endMs = options.faultyPhaseMs + options.livenessBoundMs
    queue.push(.heal, at: options.faultyPhaseMs)
    var heightsAtHeal: [UInt64] = []
    var steps = 0
    while failure == nil, let (time, event) = queue.pop(), time <= endMs {
      now = time
      if !healed && now >= options.faultyPhaseMs {
        heightsAtHeal = hosts.map { UInt64($0.chain.count) }
      }
      handle(event)
      steps += 1
      if steps > 50_000_000 { fail("step budget exhausted") }
    }
    now = endMs
    if failure == nil { checkLiveness(heightsAtHeal: heightsAtHeal) }
    var dropped: [DropReason: Int] = [:]
    for host in hosts where !host.byzantine {
      for (reason, count) in host.replica?.dropped ?? [:] { dropped[reason, default: 0] += count }
    }
    return SimulationResult(
      seed: options.seed, failure: failure, trace: trace, committedHeights: hosts.map { UInt64($0.chain.count) },
      messagesDelivered: messagesDelivered, simulatedMs: now,
      viewsReached: hosts.compactMap { $0.replica?.view }.max() ?? 0, dropped: dropped,
      validatorSetChanges: Self.epochs(hosts.max { $0.schedules.count < $1.schedules.count }!.schedules).epochs.count - 1,
      validatorSetChangesAcrossViewChanges: setChangesAcrossViewChanges.count)
  }

  mutating func scheduleFaults() {
    let phase = options.faultyPhaseMs
    guard phase > 0 else { return }
    if options.faults.contains(.partition) {
      for _ in 0..<Int.random(in: 0...3, using: &random) {
        let start = UInt64.random(in: 0..<phase, using: &random)
        var side: [Int] = []
        for index in hosts.indices where random.chance(0.5) { side.append(index) }
        queue.push(.partition(side), at: start)
        queue.push(.partition([]), at: min(phase, start + UInt64.random(in: 500...4_000, using: &random)))
      }
    }
    if options.faults.contains(.crash) {
      for _ in 0..<Int.random(in: 0...3, using: &random) {
        let index = Int.random(in: 0..<hosts.count, using: &random)
        let start = UInt64.random(in: 0..<phase, using: &random)
        queue.push(.crash(index), at: start)
        queue.push(.restart(index), at: min(phase, start + UInt64.random(in: 200...5_000, using: &random)))
      }
    }
  }

  mutating func handle(_ event: Event) {
    switch event {
    case .heal:
      healed = true
      partition = nil
      log("network heals; crashed replicas restart")
      for index in hosts.indices where hosts[index].replica == nil { restart(index) }
    case .partition(let side):
      guard !healed else { return }
      partition = side.isEmpty ? nil : Set(side)
      log(side.isEmpty ? "partition ends" : "partition: \(side) | rest")
    case .crash(let index):
      guard !healed, hosts[index].replica != nil else { return }
      hosts[index].replica = nil
      hosts[index].incarnation += 1
      // A crash loses the blocks delivered but not yet applied: the store never had them.
      hosts[index].chain.removeLast(hosts[index].chain.count - Int(hosts[index].appliedHeight))
      hosts[index].schedules.removeLast(hosts[index].schedules.count - Int(hosts[index].appliedHeight) - 1)
      log("r\(index) crashes")
    case .restart(let index):
      if hosts[index].replica == nil { restart(index) }
    case .tick(let index):
      queue.push(.tick(index), at: now + hosts[index].tickMs)
      guard hosts[index].replica != nil else { return }
      run(index, .tick)
      if hosts[index].byzantine { byzantineNoise(index) }
    case .proposal(let index, let height, let view):
      guard hosts[index].replica?.view == view else { return }
      var transactions = (0..<options.transactionsPerBlock).map { transaction(height: height, view: view, number: $0) }
      if options.reconfigure, random.chance(0.2), let change = validatorChange(height: height, by: index) {
        transactions.append(changeTransaction(change, height: height, view: view))
      }
      run(index, .proposal(height: height, transactions: transactions))
    case .applied(let index, let height, let incarnation):
      guard hosts[index].incarnation == incarnation, hosts[index].appliedHeight + 1 == height else { return }
      hosts[index].appliedHeight = height
      run(index, .blockApplied(height: height, nextValidators: nextValidators(index, after: height)))
    case .built(let index, let height, let block, let incarnation):
      guard hosts[index].incarnation == incarnation else { return }
      run(index, .blockBuilt(height: height, block: block))
    case .validated(let index, let blockHash, let valid, let incarnation):
      guard hosts[index].incarnation == incarnation else { return }
      run(index, .blockValidated(blockHash: blockHash, valid: valid))
    case .deliver(let message, let from, let to):
      guard hosts[to].replica != nil else { return }
      messagesDelivered += 1
      if hosts[to].byzantine && hosts[to].seen.count < 64 { hosts[to].seen.append(message) }
      run(to, .message(message, from: keys[from]))
    }
  }

  mutating func restart(_ index: Int) {
    hosts[index].replica = makeReplica(index)
    run(index, .transactionsPending(true))
    log("r\(index) restarts at height \(hosts[index].chain.count) from \(hosts[index].wal.count) WAL records")
  }

  func transaction(height: UInt64, view: UInt64, number: Int) -> SignedTransaction {
    let body = TransactionBody(
      chainId: chainId, signer: keys[0], sequence: height * 1_000 + UInt64(number),
      payload: .revokeGrant(Retirement(bureauId: "SIM", recordId: "G-\(height)-\(view)-\(number)", reason: "")))
    return SignedTransaction(body: body, signatures: [])
  }

  /// How long the ledger takes to build, validate or apply one block.
  mutating func executionLatency() -> UInt64 {
    options.executionLatencyMsMax == 0 ? 0 : UInt64.random(in: 0...options.executionLatencyMsMax, using: &random)
  }

  /// The set in force at `height + 1` by the host's ledger.
  func nextValidators(_ index: Int, after height: UInt64) -> ValidatorSet {
    hosts[index].schedules[Int(height)].validatorsInForce(at: height + 1)
  }

  /// A change the primary at `height` proposes from what it knows: add a
  /// spare, remove a member, or replace one with a spare, effective 1 to 4
  /// heights on. The ledger keeps it only if it is still valid when executed.
  mutating func validatorChange(height: UInt64, by index: Int) -> ValidatorSetChange? {
    let schedule = hosts[index].schedules.last!
    let projected = schedule.pending.reduce(schedule.current) { $0.applying($1) }
    let outside = keys.indices.filter { !projected.contains(keys[$0]) }
    let removable = projected.validators.map(\.nodeKey).filter { !hosts[self.index(of: $0)].byzantine }
    let effectiveHeight = height + UInt64.random(in: 1...4, using: &random)
    let add = outside.randomElement(using: &random).map { [Validator(nodeKey: keys[$0], bureauId: "SIM-\($0)")] } ?? []
    let remove = removable.randomElement(using: &random).map { [$0] } ?? []
    switch Int.random(in: 0..<3, using: &random) {
    case 0 where !add.isEmpty: return ValidatorSetChange(add: add, remove: [], effectiveHeight: effectiveHeight)
    case 1 where !remove.isEmpty: return ValidatorSetChange(add: [], remove: remove, effectiveHeight: effectiveHeight)
    case 2 where !add.isEmpty && !remove.isEmpty:
      return ValidatorSetChange(add: add, remove: remove, effectiveHeight: effectiveHeight)
    default: return nil
    }
  }

  func changeTransaction(_ change: ValidatorSetChange, height: UInt64, view: UInt64) -> SignedTransaction {
    let body = TransactionBody(
      chainId: chainId, signer: keys[0], sequence: height * 1_000 + 999, payload: .changeValidators(change))
    return SignedTransaction(body: body, signatures: [])
  }

  mutating func run(_ index: Int, _ event: ReplicaEvent) {
    guard var replica = hosts[index].replica else { return }
    let before = (replica.view, replica.viewChangeTarget)
    let actions = replica.step(event)
    replica.checkInvariants()
    hosts[index].replica = replica
    if replica.viewChangeTarget != before.1, let target = replica.viewChangeTarget {
      log("r\(index) asks for view \(target) (in view \(replica.view), committed \(replica.committedHeight))")
    }
    if replica.view != before.0 { log("r\(index) enters view \(replica.view)") }
    perform(actions, by: index)
  }

  mutating func perform(_ actions: [ReplicaAction], by index: Int) {
    for action in actions {
      switch action {
      case .persist(let record, let then):
        hosts[index].wal.append(record)
        perform(then, by: index)
      case .send(let message, let to): send(message, from: index, to: self.index(of: to))
      case .broadcast(let message):
        // As the node routes it: to the validators of the latest set the replica knows.
        for validator in hosts[index].replica!.broadcastSet.validators where validator.nodeKey != keys[index] {
          send(message, from: index, to: self.index(of: validator.nodeKey))
        }
      case .requestProposal(let height):
        queue.push(
          .proposal(index, height: height, view: hosts[index].replica!.view), at: now + options.batchIntervalMs)
      case .deliver(let committed): deliver(committed, at: index)
      case .buildBlock(let height, let parent, let transactions, let validators):
        let block = executor.buildBlock(
          on: parent, height: height, transactions: transactions, proposer: keys[index], validators: validators)
        queue.push(
          .built(index, height: height, block: block, incarnation: hosts[index].incarnation),
          at: now + executionLatency())
      case .validateBlock(let block, let parent, let validators):
        let valid = executor.validate(block, on: parent, validators: validators)
        queue.push(
          .validated(index, blockHash: block.header.hash, valid: valid, incarnation: hosts[index].incarnation),
          at: now + executionLatency())
      case .serveBlocks(let fromHeight, let to):
        let blocks = hosts[index].chain.dropFirst(Int(fromHeight) - 1).prefix(ReplicaConfiguration.blocksPerResponseMax)
        send(.blockResponse(Array(blocks)), from: index, to: self.index(of: to))
      }
    }
    // Compacted as the node compacts its WAL.
    if hosts[index].wal.count > 256, let committed = hosts[index].replica?.committedHeight {
      hosts[index].wal = WALRecord.compacted(hosts[index].wal, committedHeight: committed)
    }
  }

  // MARK: Network

  mutating func send(_ message: ConsensusMessage, from: Int, to: Int) {
    if hosts[from].byzantine {
      for (mutated, target) in byzantineRewrite(message, from: from, to: to) {
        transmit(mutated, from: from, to: target)
      }
    } else {
      transmit(message, from: from, to: to)
    }
  }

  mutating func transmit(_ message: ConsensusMessage, from: Int, to: Int) {
    let faulty = !healed
    if faulty, let side = partition, side.contains(from) != side.contains(to) { return }
    if faulty && options.faults.contains(.loss) && random.chance(0.05) { return }
    var delay: UInt64 = 5
    if faulty && options.faults.contains(.delay) { delay = UInt64.random(in: 1...60, using: &random) }
    if options.faults.contains(.reorder) { delay += UInt64.random(in: 0...(faulty ? 30 : 4), using: &random) }
    queue.push(.deliver(message, from: from, to: to), at: now + delay)
    if faulty && options.faults.contains(.duplicate) && random.chance(0.03) {
      queue.push(.deliver(message, from: from, to: to), at: now + delay + UInt64.random(in: 1...200, using: &random))
    }
  }

  // MARK: Checks

  mutating func deliver(_ committed: CommittedBlock, at index: Int) {
    let header = committed.block.header
    let chain = hosts[index].chain
    guard header.height == UInt64(chain.count) + 1, header.previousHash == (chain.last?.block.header ?? genesis).hash
    else { return fail("r\(index) delivered height \(header.height) out of order or off its chain") }
    // The reference: the set in force at this height by the host's own ledger, not the replica's belief.
    let inForce = hosts[index].schedules.last!.validatorsInForce(at: header.height)
    guard committed.certificate.blockHash == header.hash,
      committed.certificate.isValid(chainId: chainId, validators: inForce, verifier: SimulatedVerifier())
    else {
      return fail(
        "r\(index) delivered height \(header.height) without a valid commit certificate by the set in force there (\(inForce.count) validators, quorum \(inForce.quorum))"
      )
    }
    guard header.validatorSetHash == inForce.hash else {
      return fail("r\(index) delivered height \(header.height) naming a set other than the one in force")
    }
    if let previous = chain.last, header.height >= 2,
      inForce != hosts[index].schedules[Int(header.height) - 2].validatorsInForce(at: header.height - 1),
      committed.certificate.view > previous.certificate.view
    {
      setChangesAcrossViewChanges.insert(header.height)
    }
    hosts[index].chain.append(committed)
    let schedule = ledger.schedule(after: committed.block, from: hosts[index].schedules.last!)
    let next = schedule.validatorsInForce(at: header.height + 1)
    if next != inForce { log("r\(index): the set changes at h=\(header.height + 1) to \(next.count) validators") }
    hosts[index].schedules.append(schedule)
    // The ledger applies blocks in order, each taking its time.
    hosts[index].applyDueMs = max(now + executionLatency(), hosts[index].applyDueMs)
    queue.push(
      .applied(index, height: header.height, incarnation: hosts[index].incarnation), at: hosts[index].applyDueMs)
    // As the node does: peers that did not decide this block themselves get it pushed.
    if inForce.contains(keys[index]) {
      for peer in hosts.indices where peer != index && !inForce.contains(keys[peer]) {
        send(.blockResponse([committed]), from: index, to: peer)
      }
    }
    log("r\(index) commits h=\(header.height) \(header.hash.hex.prefix(8)) in view \(committed.certificate.view)")
    guard !hosts[index].byzantine else { return }
    if let agreedHash = agreed[header.height] {
      if agreedHash != header.hash {
        fail(
          "agreement violated at height \(header.height): r\(index) committed \(header.hash.hex.prefix(8)), another honest replica \(agreedHash.hex.prefix(8))"
        )
      }
    } else {
      agreed[header.height] = header.hash
    }
  }

  mutating func checkLiveness(heightsAtHeal: [UInt64]) {
    let honest = hosts.indices.filter { !hosts[$0].byzantine }
    let target = (honest.map { heightsAtHeal.isEmpty ? 0 : heightsAtHeal[$0] }.max() ?? 0) + 2
    for index in honest where UInt64(hosts[index].chain.count) < target {
      fail(
        "liveness: r\(index) is at height \(hosts[index].chain.count) \(options.livenessBoundMs) ms after the network healed; expected ≥ \(target)"
      )
      return
    }
  }

  mutating func fail(_ message: String) {
    guard failure == nil else { return }
    failure = message
    for (index, host) in hosts.enumerated() {
      guard let replica = host.replica else {
        log("r\(index): down")
        continue
      }
      let dropped = replica.dropped.sorted { $0.key.rawValue < $1.key.rawValue }.map {
        "\($0.key.rawValue)=\($0.value)"
      }
      log(
        "r\(index)\(host.byzantine ? " (Byzantine)" : ""): view \(replica.view), asking for \(replica.viewChangeTarget.map(String.init) ?? "-"), committed \(replica.committedHeight), dropped \(dropped.joined(separator: " "))"
      )
    }
    log("FAILED: \(message)")
  }

  mutating func log(_ line: String) {
    trace.append("t=\(now)ms \(line)")
    if trace.count > options.traceLinesMax { trace.removeFirst(trace.count - options.traceLinesMax) }
  }
}

/// A binary min-heap of events by (time, insertion order): equal times run in
/// the order they were scheduled, so runs are reproducible.
struct EventQueue<Element> {
  private var heap: [(time: UInt64, order: UInt64, element: Element)] = []
  private var nextOrder: UInt64 = 0

  mutating func push(_ element: Element, at time: UInt64) {
    heap.append((time, nextOrder, element))
    nextOrder += 1
    var child = heap.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      guard less(child, parent) else { break }
      heap.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> (UInt64, Element)? {
    guard !heap.isEmpty else { return nil }
    heap.swapAt(0, heap.count - 1)
    let top = heap.removeLast()
    var parent = 0
    while true {
      let left = 2 * parent + 1
      let right = left + 1
      var smallest = parent
      if left < heap.count && less(left, smallest) { smallest = left }
      if right < heap.count && less(right, smallest) { smallest = right }
      if smallest == parent { break }
      heap.swapAt(parent, smallest)
      parent = smallest
    }
    return (top.time, top.element)
  }

  private func less(_ a: Int, _ b: Int) -> Bool { (heap[a].time, heap[a].order) < (heap[b].time, heap[b].order) }
}

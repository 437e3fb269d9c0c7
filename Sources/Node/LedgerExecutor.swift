import Consensus
import Dispatch
import Foundation
import Ledger
import Logging

/// Performs the replica's `buildBlock` and `validateBlock` actions: builds
/// and validates blocks on the committed head by executing them against the
/// LevelDB store, and keeps each validated execution so the commit that
/// follows does not execute again.
///
/// Blocks are only built or validated on the committed head, so the node runs
/// the replica with a window of one height (docs/CONSENSUS.md, "Node").
final class LedgerExecutor: BlockExecutor {
  let store: LedgerStore
  let logger: Logger
  struct Hooks {
    /// Whether this node already verified these very signatures (its mempool, recent checks).
    var isVerified: (SignedTransaction) -> Bool = { _ in false }
    /// Told about every transaction whose signatures were checked here, and whether they held.
    var onVerified: ([(SignedTransaction, Bool)]) -> Void = { _ in }
  }
  var hooks = Hooks()
  /// Executions of validated, not yet committed blocks, by block hash.
  private(set) var executions: [Hash256: BlockExecution] = [:]
  /// How long the last build or validation took (for the commit log line).
  private(set) var lastExecutionMs = 0.0
  /// A proposal more than this far ahead of the local clock is refused.
  static let clockSkewMaxMs: UInt64 = 10_000

  init(store: LedgerStore, logger: Logger) {
    self.store = store
    self.logger = logger
  }

  static func milliseconds(since start: ContinuousClock.Instant) -> Double {
    let elapsed = (ContinuousClock.now - start).components
    return Double(elapsed.seconds) * 1_000 + Double(elapsed.attoseconds) / 1e15
  }

  static func nowMs() -> UInt64 { UInt64(Date().timeIntervalSince1970 * 1_000) }

  /// `validators` is what the replica holds in force at `height`; the store
  /// computes the same from its state (`ValidatorSchedule`) and puts its hash in the header.
  func buildBlock(
    on parent: BlockHeader, height: UInt64, transactions: [SignedTransaction], proposer: PublicKey,
    validators: ValidatorSet
  ) -> Block? {
    guard parent.hash == store.head.blockHash, height == store.head.height + 1 else { return nil }
    let timeMs = max(Self.nowMs(), store.head.timeMs)
    do {
      let unverified = transactions.filter { !hooks.isVerified($0) }
      guard verify(unverified) else { return nil }
      let started = ContinuousClock.now
      let execution = try store.execute(transactions, timeMs: timeMs, signatureCheck: .alreadyVerified)
      lastExecutionMs = Self.milliseconds(since: started)
      // Encoded once here for the proposal frame, the consensus log and the store.
      let block = store.nextBlock(transactions: transactions, timeMs: timeMs, execution: execution, proposer: proposer)
      guard block.header.validatorSetHash == validators.hash else {
        logger.critical(
          "the store and the replica disagree on the validator set", metadata: ["height": "\(height)"])
        return nil
      }
      executions[block.header.hash] = execution
      return block
    } catch {
      logger.error("cannot build a block", metadata: ["height": "\(height)", "error": "\(error)"])
      return nil
    }
  }

  /// The store checks the header's `validatorSetHash` against its own
  /// schedule; the replica's `validators` must agree, or a block would be
  /// voted for that the store then refuses.
  func validate(_ block: Block, on parent: BlockHeader, validators: ValidatorSet) -> Bool {
    let header = block.header
    guard parent.hash == store.head.blockHash, header.validatorSetHash == validators.hash else { return false }
    if executions[header.hash] != nil { return true }
    guard header.timeMs <= Self.nowMs() + Self.clockSkewMaxMs else {
      logger.warning(
        "proposal from the future refused", metadata: ["height": "\(header.height)", "timeMs": "\(header.timeMs)"])
      return false
    }
    // A transaction with a bad signature stays in the block as rejected (the
    // state machine says so in its result); verify here only what the mempool did not.
    let started = ContinuousClock.now
    let unverified = block.transactions.filter { !hooks.isVerified($0) }
    let check: StateMachine.SignatureCheck = verify(unverified) ? .alreadyVerified : .verify
    do {
      executions[header.hash] = try store.validate(block, signatureCheck: check)
      lastExecutionMs = Self.milliseconds(since: started)
      if !unverified.isEmpty {
        logger.debug("verified signatures the mempool had not", metadata: ["count": "\(unverified.count)"])
      }
      return true
    } catch {
      logger.warning("proposal refused", metadata: ["height": "\(header.height)", "error": "\(error)"])
      return false
    }
  }

  /// The execution of a validated block, removing it (and every other kept execution) once used.
  func takeExecution(for blockHash: Hash256) -> BlockExecution? {
    defer { executions.removeAll() }
    return executions[blockHash]
  }

  /// Checks every signature (all cores when there are many) and reports each outcome.
  private func verify(_ transactions: [SignedTransaction]) -> Bool {
    guard !transactions.isEmpty else { return true }
    let valid = Self.verifySignatures(transactions)
    hooks.onVerified(Array(zip(transactions, valid)))
    return valid.allSatisfy { $0 }
  }

  /// Read once: Foundation reads the cgroup's CPU quota from its files at
  /// every `activeProcessorCount`, 0.37 % of a node's CPU when asked per batch.
  static let cores = max(1, ProcessInfo.processInfo.activeProcessorCount)

  static func verifySignatures(_ transactions: [SignedTransaction]) -> [Bool] {
    guard transactions.count > 8 else { return transactions.map(\.signaturesAreValid) }
    let chunk = (transactions.count + cores - 1) / cores
    // Each iteration writes only its own disjoint range.
    nonisolated(unsafe) let results = UnsafeMutableBufferPointer<Bool>.allocate(capacity: transactions.count)
    defer { results.deallocate() }
    results.initialize(repeating: false)
    DispatchQueue.concurrentPerform(iterations: cores) { part in
      let range = part * chunk..<min(transactions.count, (part + 1) * chunk)
      for index in range { results[index] = transactions[index].signaturesAreValid }
    }
    return Array(results)
  }
}

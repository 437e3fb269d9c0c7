import Foundation

@testable import Ledger

/// Committed state held in memory, for executing blocks without a database.
final class InMemoryState: StateReader {
  var records: [RecordKey: StateRecord] = [:]
  func record(_ key: RecordKey) throws -> StateRecord? { records[key] }
}

/// A chain in memory: the devnet genesis plus a few bureaus with duties and
/// directories, and helpers to sign and apply transactions one block at a time.
final class LedgerHarness {
  let genesis: Genesis
  let state = InMemoryState()
  let nodes = InMemorySparseMerkleNodes()
  var root: Hash256
  var height: UInt64 = 0
  var timeMs: UInt64
  var sequences: [PublicKey: UInt64] = [:]

  static let police = "BJ-GAJ"
  static let housing = "BJ-ZJW"
  static let civil = "BJ-MZJ"
  static let censusDuty = "GAJ-D-HJGL"
  static let residents = "GAJ-R-CZRK"
  static let secretDirectory = "GAJ-R-XZZF"
  static let openDirectory = "GAJ-R-JGDW"

  var governance: [SecretKey] { Devnet.governanceKeys }
  func operatorKey(_ bureauId: String) -> SecretKey { Devnet.operatorKey(bureauId) }

  static func items(_ names: [String]) -> [DataItem] {
    names.map { DataItem(name: $0, type: .text, description: "") }
  }

  static func residentsDirectory(shareType: ShareType = .conditional, duties: [String] = [censusDuty]) -> Directory {
    Directory(
      bureauId: police, directoryId: residents, title: "常住人口基本信息", description: "本市常住人口登记信息",
      dutyIds: duties, items: items(["公民身份号码", "姓名", "性别", "出生日期", "户籍地址"]), shareType: shareType,
      shareCondition: shareType == .conditional ? "用于政务服务身份核验" : "", openType: .notOpen, updateCycle: .daily)
  }

  init(genesis: Genesis? = nil) throws {
    self.genesis =
      genesis
      ?? Devnet.genesis(
        bureaus: [Devnet.registration(Self.civil, name: "北京市民政局")],
        duties: [
          Duty(
            bureauId: Self.police, dutyId: Self.censusDuty, title: "户籍管理",
            legalBasis: "《中华人民共和国户口登记条例》", description: "负责本市户口登记和管理")
        ],
        directories: [
          Self.residentsDirectory(),
          Directory(
            bureauId: Self.police, directoryId: Self.secretDirectory, title: "刑事侦查案件信息", description: "",
            dutyIds: [Self.censusDuty], items: Self.items(["案件编号"]), shareType: .notShared, shareCondition: "",
            openType: .notOpen, updateCycle: .realTime),
          Directory(
            bureauId: Self.police, directoryId: Self.openDirectory, title: "公安机关办公地址", description: "",
            dutyIds: [Self.censusDuty], items: Self.items(["机关名称", "地址"]), shareType: .unconditional,
            shareCondition: "", openType: .open, updateCycle: .yearly),
        ])
    timeMs = self.genesis.genesisTimeMs
    let built = try self.genesis.buildState(tree: SparseMerkleTree(source: nodes))
    root = built.execution.stateRoot
    absorb(built.execution)
  }

  private func absorb(_ execution: BlockExecution) {
    for change in execution.changes { state.records[change.key] = change.after }
    nodes.insert(execution.newNodes)
    root = execution.stateRoot
  }

  /// Signs `payload` with `keys` (the first is the signer) at the signer's next sequence.
  func transaction(_ payload: Payload, by keys: [SecretKey], sequence: UInt64? = nil) -> SignedTransaction {
    let signer = keys[0].publicKey
    let body = TransactionBody(
      chainId: genesis.chainId, signer: signer, sequence: sequence ?? sequences[signer, default: 0], payload: payload)
    return SignedTransaction(body: body, signedBy: keys)
  }

  /// Executes one block; the block's time is `advanceMs` after the previous one.
  @discardableResult
  func apply(
    _ transactions: [SignedTransaction], advanceMs: UInt64 = 1_000, check: StateMachine.SignatureCheck = .verify
  )
    throws -> BlockExecution
  {
    height += 1
    timeMs += advanceMs
    let execution = try StateMachine(chainId: genesis.chainId, signatureCheck: check).execute(
      transactions: transactions, height: height, timeMs: timeMs, state: state, tree: SparseMerkleTree(source: nodes),
      stateRoot: root)
    absorb(execution)
    for (transaction, result) in zip(transactions, execution.results) where result.isAccepted {
      sequences[transaction.body.signer] = transaction.body.sequence + 1
    }
    return execution
  }

  /// Applies one transaction in its own block and returns its result.
  @discardableResult
  func submit(_ payload: Payload, by keys: [SecretKey], advanceMs: UInt64 = 1_000) throws -> TransactionResult {
    try apply([transaction(payload, by: keys)], advanceMs: advanceMs).results[0]
  }

  func record(_ key: RecordKey) -> StateRecord? { state.records[key] }
}

/// The local development network: every key is derived from a public label
/// (`taggedHash("dirledger/example-key", "devnet/<label>")`), so anyone can
/// sign as anyone. For tests, demos and `genesis/devnet.json` only — never
/// for a chain that holds real data.
public enum Devnet {
  public static let chainId = "dirledger-devnet"
  public static let genesisTimeMs: UInt64 = 1_767_225_600_000  // 2026-01-01T00:00:00Z
  public static let description =
    "LOCAL DEVNET ONLY: every key in this file is derived from a public label and is known to everyone."

  public static func key(_ label: String) -> SecretKey { FormatExamples.key("devnet/\(label)") }

  /// Governance: the big-data bureau and the general office, 2 of 3 with the data-security office.
  public static let governanceKeys = ["governance-1", "governance-2", "governance-3"].map(key)
  public static let governanceThreshold: UInt8 = 2

  public static func operatorKey(_ bureauId: String) -> SecretKey { key("operator/\(bureauId)") }
  public static func nodeKey(_ bureauId: String) -> SecretKey { key("node/\(bureauId)") }

  /// The bureaus that run the devnet's validators, one node each.
  public static let validatorBureaus = ["BJ-DSJJ", "BJ-GAJ", "BJ-RSJ", "BJ-ZJW"]

  public static func registration(_ bureauId: String, name: String) -> BureauRegistration {
    BureauRegistration(
      bureauId: bureauId, name: name, operatorKeys: [operatorKey(bureauId).publicKey],
      nodeKeys: [nodeKey(bureauId).publicKey])
  }

  /// A genesis with `validatorCount` validators (bureaus `BJ-V<n>` beyond the four named ones).
  public static func genesis(
    validatorCount: Int = 4, bureaus extraBureaus: [BureauRegistration] = [], duties: [Duty] = [],
    directories: [Directory] = [], grants: [Grant] = []
  ) -> Genesis {
    let names = ["BJ-DSJJ": "北京市大数据中心", "BJ-GAJ": "北京市公安局", "BJ-RSJ": "北京市人力资源和社会保障局", "BJ-ZJW": "北京市住房和城乡建设委员会"]
    let validatorIds = (0..<validatorCount).map { $0 < validatorBureaus.count ? validatorBureaus[$0] : "BJ-V\($0 + 1)" }
    var bureaus = validatorIds.map { registration($0, name: names[$0] ?? "验证节点 \($0)") }
    let named = Set(validatorIds)
    bureaus += extraBureaus.filter { !named.contains($0.bureauId) }
    return Genesis(
      chainId: chainId, description: description, genesisTimeMs: genesisTimeMs,
      governance: .init(keys: governanceKeys.map(\.publicKey), threshold: governanceThreshold),
      validators: validatorIds.map { Validator(nodeKey: nodeKey($0).publicKey, bureauId: $0) },
      bureaus: bureaus, duties: duties, directories: directories, grants: grants)
  }

  /// The node keys of `genesis.validators`, found by trying each validator bureau's derived key.
  public static func validatorKeys(of genesis: Genesis) -> [SecretKey] {
    genesis.validators.map { validator in
      let secret = nodeKey(validator.bureauId)
      precondition(secret.publicKey == validator.nodeKey, "\(validator.bureauId) is not a devnet validator")
      return secret
    }
  }

  /// A commit certificate for `header` signed by the first `quorum` of `keys`.
  public static func certify(_ header: BlockHeader, view: UInt64 = 0, keys: [SecretKey], quorum: Int)
    -> CommitCertificate
  {
    let blockHash = header.hash
    let statement = VoteStatement(
      phase: .commit, chainId: header.chainId, height: header.height, view: view, blockHash: blockHash)
    let digest = statement.signingDigest
    return CommitCertificate(
      chainId: header.chainId, height: header.height, view: view, blockHash: blockHash,
      signatures: keys.prefix(quorum).map { VoterSignature(voter: $0.publicKey, signature: $0.sign(digest: digest)) })
  }
}

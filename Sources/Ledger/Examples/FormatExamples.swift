/// The worked examples of docs/FORMAT.md: one value of every message type,
/// built from fixed keys and signed with zero auxiliary randomness so the bytes
/// are reproducible anywhere. The format test checks the document against
/// these; `REWRITE_FORMAT_VECTORS=1 swift test --filter FormatDocument` rewrites it.
///
/// The keys are derived from public labels: never use them outside examples.
public enum FormatExamples {
  public static let chainId = "beijing-dirledger-example"

  /// `SHA-256` tagged with `dirledger/example-key` over the label, as the secret.
  public static func key(_ label: String) -> SecretKey {
    let secret = TaggedHash.hash(tag: "dirledger/example-key", Array(label.utf8))
    // A SHA-256 output is outside [1, n-1] with probability about 2^-128; the
    // format tests build every example key, so a bad label would fail there.
    return try! SecretKey(bytes: secret.bytes)
  }

  public static let governanceKeys = ["governance/big-data-bureau", "governance/government-office"].map(key)
  public static let publicSecurityOperator = key("operator/BJ-GAJ")
  public static let housingOperator = key("operator/BJ-ZJW")
  public static let validatorKeys = (1...4).map { key("validator/\($0)") }

  static let publicSecurity = "BJ-GAJ"
  static let housing = "BJ-ZJW"
  static let census = "GAJ-D-HJGL"
  static let residents = "GAJ-R-CZRK"
  static let exampleDataHash = SHA256.hash(Array("常住人口基本信息 2026-11 批次".utf8))

  /// Deterministic BIP-340 signature with all-zero auxiliary randomness.
  public static func sign(_ key: SecretKey, _ digest: Hash256) -> Signature {
    digest.withUnsafeBytes { key.sign(message: $0, auxiliaryRandom: [UInt8](repeating: 0, count: 32)) }
  }

  static func transaction(_ payload: Payload, by signers: [SecretKey], sequence: UInt64 = 0) -> SignedTransaction {
    let body = TransactionBody(chainId: chainId, signer: signers[0].publicKey, sequence: sequence, payload: payload)
    let id = body.id
    return SignedTransaction(
      body: body,
      signatures: signers.map { TransactionSignature(publicKey: $0.publicKey, signature: sign($0, id)) })
  }

  static var residentDirectory: Directory {
    Directory(
      bureauId: publicSecurity, directoryId: residents, title: "常住人口基本信息",
      description: "本市常住人口户籍登记的基本信息，供各委办局核验身份与户籍。",
      dutyIds: [census],
      items: [
        DataItem(name: "公民身份号码", type: .code, description: "GB 11643 十八位公民身份号码"),
        DataItem(name: "姓名", type: .text, description: "户籍登记姓名"),
        DataItem(name: "户籍地址", type: .text, description: "户籍所在地详细地址"),
        DataItem(name: "出生日期", type: .date, description: "YYYY-MM-DD"),
      ],
      shareType: .conditional, shareCondition: "用于法定职责内的身份与户籍核验",
      openType: .notOpen, updateCycle: .daily)
  }

  /// One signed transaction of every kind, in `Payload.Kind` order.
  public static var transactions: [(kind: Payload.Kind, transaction: SignedTransaction)] {
    let governance = governanceKeys
    let gaj = publicSecurityOperator
    let zjw = housingOperator
    var revised = residentDirectory
    revised.items.append(DataItem(name: "婚姻状况", type: .code, description: "GB/T 2261.2 婚姻状况代码"))
    let window: (from: UInt64, until: UInt64) = (1_790_000_000_000, 1_821_536_000_000)
    let payloads: [(Payload, [SecretKey])] = [
      (
        .registerBureau(
          BureauRegistration(
            bureauId: housing, name: "北京市住房和城乡建设委员会", operatorKeys: [zjw.publicKey],
            nodeKeys: [validatorKeys[1].publicKey])), governance
      ),
      (.suspendBureau(BureauStatusChange(bureauId: housing, reason: "节点密钥疑似泄露，暂停其交易")), governance),
      (.reinstateBureau(BureauStatusChange(bureauId: housing, reason: "密钥已轮换，恢复")), governance),
      (.removeBureau(BureauStatusChange(bureauId: housing, reason: "机构改革撤并")), governance),
      (
        .rotateBureauKeys(
          BureauKeyRotation(
            bureauId: housing, operatorKeys: [zjw.publicKey, gaj.publicKey], nodeKeys: [validatorKeys[2].publicKey])),
        governance
      ),
      (
        .changeValidators(
          ValidatorSetChange(
            add: [Validator(nodeKey: validatorKeys[3].publicKey, bureauId: housing)],
            remove: [validatorKeys[0].publicKey], effectiveHeight: 1_000)), governance
      ),
      (
        .declareDuty(
          Duty(
            bureauId: publicSecurity, dutyId: census, title: "户籍管理",
            legalBasis: "《中华人民共和国户口登记条例》第三条",
            description: "负责本市户口登记、迁移和居民身份证管理。")), [gaj]
      ),
      (
        .amendDuty(
          Duty(
            bureauId: publicSecurity, dutyId: census, title: "户籍管理",
            legalBasis: "《中华人民共和国户口登记条例》第三条；《居民身份证法》",
            description: "负责本市户口登记、迁移、居民身份证办理与核验。")), [gaj]
      ),
      (.retireDuty(Retirement(bureauId: publicSecurity, recordId: census, reason: "职责划转")), [gaj]),
      (.publishDirectory(residentDirectory), [gaj]),
      (.reviseDirectory(revised), [gaj]),
      (.retireDirectory(Retirement(bureauId: publicSecurity, recordId: residents, reason: "由新版目录替代")), [gaj]),
      (
        .requestAccess(
          AccessRequest(
            requesterId: housing, requestId: "ZJW-REQ-2026-0042", providerId: publicSecurity,
            scope: AccessScope(
              directoryId: residents, items: ["公民身份号码", "姓名", "户籍地址"], purpose: "不动产登记秒批核验购房人户籍",
              validFromMs: window.from, validUntilMs: window.until))), [zjw]
      ),
      (
        .approveRequest(
          RequestApproval(
            providerId: publicSecurity, requesterId: housing, requestId: "ZJW-REQ-2026-0042",
            grantId: "GAJ-G-2026-0107")), [gaj]
      ),
      (
        .denyRequest(
          RequestDenial(
            providerId: publicSecurity, requesterId: housing, requestId: "ZJW-REQ-2026-0042",
            reason: "申请数据项超出职责所需")), [gaj]
      ),
      (
        .grantAccess(
          Grant(
            grantorId: publicSecurity, grantId: "GAJ-G-2026-0108", granteeId: housing,
            scope: AccessScope(
              directoryId: residents, items: ["公民身份号码", "姓名"], purpose: "保障性住房资格审核",
              validFromMs: window.from, validUntilMs: window.until))), [gaj]
      ),
      (.revokeGrant(Retirement(bureauId: publicSecurity, recordId: "GAJ-G-2026-0108", reason: "审核工作结束")), [gaj]),
      (
        .attestData(
          Attestation(
            bureauId: publicSecurity, directoryId: residents, kind: .batchRoot, dataHash: exampleDataHash,
            recordCount: 21_860_000, producedAtMs: 1_795_000_000_000)), [gaj]
      ),
      (
        .recordShare(
          ShareRecord(
            providerId: publicSecurity, consumerId: housing, directoryId: residents, grantId: "GAJ-G-2026-0107",
            dataHash: exampleDataHash)), [gaj]
      ),
    ]
    return payloads.enumerated().map { index, entry in
      (entry.0.kind, transaction(entry.0, by: entry.1, sequence: UInt64(index)))
    }
  }

  public static var validatorSet: ValidatorSet {
    ValidatorSet(
      validatorKeys.enumerated().map { index, key in
        Validator(nodeKey: key.publicKey, bureauId: ["BJ-DSJJ", "BJ-ZJW", "BJ-GAJ", "BJ-RSJ"][index])
      })
  }

  public static var block: Block {
    let transactions = [self.transactions[9].transaction, self.transactions[17].transaction]
    var history = MerkleFrontier()
    for height in 0..<7 { history.append(leafHash: SHA256.hash(Array("block \(height)".utf8))) }
    let header = BlockHeader(
      chainId: chainId, height: 7, timeMs: 1_795_000_123_456,
      previousHash: SHA256.hash(Array("block 6".utf8)), historyRoot: history.root,
      transactionsRoot: Block.transactionsRoot(transactions), transactionCount: UInt32(transactions.count),
      resultsRoot: MerkleTree.root(leaves: [[0], [0]]),
      stateRoot: SHA256.hash(Array("state after block 7".utf8)),
      validatorSetHash: validatorSet.hash, proposer: validatorKeys[3].publicKey)
    return Block(header: header, transactions: transactions)
  }

  public static var vote: Vote {
    let statement = VoteStatement(phase: .prepare, chainId: chainId, height: 7, view: 0, blockHash: block.header.hash)
    return Vote(
      statement: statement, voter: validatorKeys[0].publicKey,
      signature: sign(validatorKeys[0], statement.signingDigest))
  }

  public static var certificate: CommitCertificate {
    let blockHash = block.header.hash
    let statement = VoteStatement(phase: .commit, chainId: chainId, height: 7, view: 0, blockHash: blockHash)
    return CommitCertificate(
      chainId: chainId, height: 7, view: 0, blockHash: blockHash,
      signatures: validatorKeys[0..<3].map {
        VoterSignature(voter: $0.publicKey, signature: sign($0, statement.signingDigest))
      })
  }

  /// Every example as (vector name, canonical bytes), in document order.
  public static var vectors: [(name: String, bytes: [UInt8])] {
    transactions.map { ("transaction/\($0.kind.fieldName)", $0.transaction.canonicalBytes) }
      + [
        ("blockHeader", block.header.canonicalBytes),
        ("block", block.canonicalBytes),
        ("vote", vote.canonicalBytes),
        ("commitCertificate", certificate.canonicalBytes),
        ("validatorSet", validatorSet.canonicalBytes),
      ]
  }
}

public import Ledger

/// PBFT pre-prepare (Castro & Liskov §4.2): the primary of `view` proposes
/// `block` at its height. The primary's own prepare vote rides along, signed
/// like every other prepare, so a pre-prepare needs no signature kind of its own.
public struct PrePrepare: Hashable, Sendable {
  public let block: Block
  /// The primary's prepare vote for (view, height, block hash).
  public let primaryVote: Vote

  public init(block: Block, primaryVote: Vote) {
    self.block = block
    self.primaryVote = primaryVote
  }

  public var view: UInt64 { primaryVote.statement.view }
  public var height: UInt64 { block.header.height }
}

/// Proof that a block prepared at (view, height): its pre-prepare and a quorum
/// of prepare votes for it (§4.4, the P set of a view-change).
public struct PreparedCertificate: Hashable, Sendable {
  public let prePrepare: PrePrepare
  /// Prepare votes from distinct validators, the primary's included.
  public let prepares: [Vote]

  public init(prePrepare: PrePrepare, prepares: [Vote]) {
    self.prePrepare = prePrepare
    self.prepares = prepares
  }

  public var view: UInt64 { prePrepare.view }
  public var height: UInt64 { prePrepare.height }
  public var blockHash: Hash256 { prePrepare.block.header.hash }
}

/// A block a replica delivered, with the commit certificate that made it final.
public struct CommittedBlock: Hashable, Sendable {
  public let block: Block
  public let certificate: CommitCertificate

  public init(block: Block, certificate: CommitCertificate) {
    self.block = block
    self.certificate = certificate
  }
}

/// A replica asks to move to `newView` (§4.4). It proves how far it got: its
/// last committed block's certificate, and a prepared certificate for every
/// height above that it prepared (contiguous, oldest first).
public struct ViewChange: Hashable, Sendable {
  public let newView: UInt64
  public let replica: PublicKey
  public let committedHeight: UInt64
  /// Absent only at height 0 (genesis needs no certificate).
  public let committedCertificate: CommitCertificate?
  public let prepared: [PreparedCertificate]
  public let signature: Signature

  public init(
    newView: UInt64, replica: PublicKey, committedHeight: UInt64, committedCertificate: CommitCertificate?,
    prepared: [PreparedCertificate], signature: Signature
  ) {
    self.newView = newView
    self.replica = replica
    self.committedHeight = committedHeight
    self.committedCertificate = committedCertificate
    self.prepared = prepared
    self.signature = signature
  }

  /// What the signature covers: the view, the committed height and block, and
  /// the (height, view, block hash) of each prepared certificate, under the vote
  /// domain with a distinct phase byte so it can never be read as a vote.
  public static func signingDigest(
    chainId: String, newView: UInt64, replica: PublicKey, committedHeight: UInt64,
    committedBlockHash: Hash256?, prepared: [PreparedCertificate]
  ) -> Hash256 {
    var writer = CanonicalWriter()
    writer.write(u8: 0xF0)  // not a VotePhase: domain-separates view changes from votes
    writer.write(string: chainId)
    writer.write(u64: newView)
    writer.write(publicKey: replica)
    writer.write(u64: committedHeight)
    writer.write(hash: committedBlockHash ?? .zero)
    writer.write(varint: prepared.count)
    for certificate in prepared {
      writer.write(u64: certificate.height)
      writer.write(u64: certificate.view)
      writer.write(hash: certificate.blockHash)
    }
    return TaggedHash.hash(.vote, writer.bytes)
  }

  public func signingDigest(chainId: String) -> Hash256 {
    Self.signingDigest(
      chainId: chainId, newView: newView, replica: replica, committedHeight: committedHeight,
      committedBlockHash: committedCertificate?.blockHash, prepared: prepared)
  }
}

/// The new primary starts `view` (§4.4): a quorum of view-changes, and the
/// pre-prepares it re-issues for the heights they prove prepared.
public struct NewView: Hashable, Sendable {
  public let view: UInt64
  public let viewChanges: [ViewChange]
  public let prePrepares: [PrePrepare]

  public init(view: UInt64, viewChanges: [ViewChange], prePrepares: [PrePrepare]) {
    self.view = view
    self.viewChanges = viewChanges
    self.prePrepares = prePrepares
  }
}

/// Everything replicas say to each other.
public enum ConsensusMessage: Hashable, Sendable {
  case prePrepare(PrePrepare)
  /// A prepare or commit vote (`statement.phase`).
  case vote(Vote)
  case viewChange(ViewChange)
  case newView(NewView)
  /// State transfer: send me your committed blocks `fromHeight…` (at most `blocksPerResponseMax`).
  case blockRequest(fromHeight: UInt64)
  case blockResponse([CommittedBlock])

  public var kindName: String {
    switch self {
    case .prePrepare: "prePrepare"
    case .vote(let vote): vote.statement.phase == .prepare ? "prepare" : "commit"
    case .viewChange: "viewChange"
    case .newView: "newView"
    case .blockRequest: "blockRequest"
    case .blockResponse: "blockResponse"
    }
  }
}

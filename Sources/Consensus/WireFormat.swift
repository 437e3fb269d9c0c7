public import Ledger

// The canonical encoding of consensus messages and WAL records (docs/FORMAT.md,
// "Consensus messages"). Same rules as every other canonical value: big-endian
// integers, minimal LEB128 counts, a tag byte per alternative, bounded counts.

extension PrePrepare: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(block)
    writer.write(primaryVote)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    self.init(block: try reader.read(Block.self, "block"), primaryVote: try reader.read(Vote.self, "primaryVote"))
  }
}

extension PreparedCertificate: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(prePrepare)
    writer.write(array: prepares)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    self.init(
      prePrepare: try reader.read(PrePrepare.self, "prePrepare"),
      prepares: try reader.read(array: "prepares", of: Vote.self, count: 1...Limits.validatorCountMax))
  }
}

extension CommittedBlock: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(block)
    writer.write(certificate)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    self.init(
      block: try reader.read(Block.self, "block"), certificate: try reader.read(CommitCertificate.self, "certificate"))
  }
}

extension ViewChange: CanonicalCodable {
  /// A view change proves at most this many prepared heights (the replica's window is smaller).
  public static let preparedCountMax = 64

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u64: newView)
    writer.write(publicKey: replica)
    writer.write(u64: committedHeight)
    writer.write(optional: committedCertificate) { $0.write($1) }
    writer.write(array: prepared)
    writer.write(signature: signature)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    self.init(
      newView: try reader.read(u64: "newView"),
      replica: try reader.read(publicKey: "replica"),
      committedHeight: try reader.read(u64: "committedHeight"),
      committedCertificate: try reader.read(optional: "committedCertificate") { (reader) throws(FormatError) in
        try CommitCertificate(from: &reader)
      },
      prepared: try reader.read(
        array: "prepared", of: PreparedCertificate.self, count: 0...Self.preparedCountMax),
      signature: try reader.read(signature: "signature"))
  }
}

extension NewView: CanonicalCodable {
  public func encode(to writer: inout CanonicalWriter) {
    writer.write(u64: view)
    writer.write(array: viewChanges)
    writer.write(array: prePrepares)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    self.init(
      view: try reader.read(u64: "view"),
      viewChanges: try reader.read(
        array: "viewChanges", of: ViewChange.self, count: 1...Limits.validatorCountMax),
      prePrepares: try reader.read(
        array: "prePrepares", of: PrePrepare.self, count: 0...ViewChange.preparedCountMax))
  }
}

extension ConsensusMessage: CanonicalCodable {
  enum Tag: UInt8 {
    case prePrepare = 1
    case vote, viewChange, newView, blockRequest, blockResponse
  }

  public func encode(to writer: inout CanonicalWriter) {
    switch self {
    case .prePrepare(let prePrepare):
      writer.write(u8: Tag.prePrepare.rawValue)
      writer.write(prePrepare)
    case .vote(let vote):
      writer.write(u8: Tag.vote.rawValue)
      writer.write(vote)
    case .viewChange(let viewChange):
      writer.write(u8: Tag.viewChange.rawValue)
      writer.write(viewChange)
    case .newView(let newView):
      writer.write(u8: Tag.newView.rawValue)
      writer.write(newView)
    case .blockRequest(let fromHeight):
      writer.write(u8: Tag.blockRequest.rawValue)
      writer.write(u64: fromHeight)
    case .blockResponse(let blocks):
      writer.write(u8: Tag.blockResponse.rawValue)
      writer.write(array: blocks)
    }
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try reader.read(enum: "type", as: Tag.self) {
    case .prePrepare: self = .prePrepare(try reader.read(PrePrepare.self, "prePrepare"))
    case .vote: self = .vote(try reader.read(Vote.self, "vote"))
    case .viewChange: self = .viewChange(try reader.read(ViewChange.self, "viewChange"))
    case .newView: self = .newView(try reader.read(NewView.self, "newView"))
    case .blockRequest: self = .blockRequest(fromHeight: try reader.read(u64: "fromHeight"))
    case .blockResponse:
      self = .blockResponse(
        try reader.read(
          array: "blocks", of: CommittedBlock.self, count: 1...ReplicaConfiguration.blocksPerResponseMax))
    }
  }
}

extension WALRecord: CanonicalCodable {
  /// The consensus message carrying the same signed value: a WAL record is
  /// encoded exactly as that message (same tags), so the two cannot drift.
  var message: ConsensusMessage {
    switch self {
    case .prePrepare(let prePrepare): .prePrepare(prePrepare)
    case .vote(let vote): .vote(vote)
    case .viewChange(let viewChange): .viewChange(viewChange)
    case .enteredView(let newView): .newView(newView)
    }
  }

  public func encode(to writer: inout CanonicalWriter) { message.encode(to: &writer) }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    switch try ConsensusMessage(from: &reader) {
    case .prePrepare(let prePrepare): self = .prePrepare(prePrepare)
    case .vote(let vote): self = .vote(vote)
    case .viewChange(let viewChange): self = .viewChange(viewChange)
    case .newView(let newView): self = .enteredView(newView)
    case .blockRequest:
      throw FormatError(field: "type", reason: .unknownTag(UInt64(ConsensusMessage.Tag.blockRequest.rawValue)))
    case .blockResponse:
      throw FormatError(field: "type", reason: .unknownTag(UInt64(ConsensusMessage.Tag.blockResponse.rawValue)))
    }
  }

  /// The height this record is about; records at or below the committed height can be pruned.
  public var height: UInt64 {
    switch self {
    case .prePrepare(let prePrepare): prePrepare.height
    case .vote(let vote): vote.statement.height
    case .viewChange(let viewChange): viewChange.committedHeight
    case .enteredView(let newView): newView.viewChanges.map(\.committedHeight).max() ?? 0
    }
  }
}

import Foundation
public import Ledger
import TOMLKit

/// A node's settings, read from `config.toml` in its home directory. Every
/// field has a default (docs/OPERATIONS.md lists them); unknown keys are errors,
/// so a misspelt setting is never silently ignored.
public struct NodeConfig: Codable, Sendable, Equatable {
  /// Shown in logs and `/v1/status`; for a bureau's node, its bureau id.
  public var id: String
  public var role: PeerRole = .validator
  /// Relative paths are relative to the home directory.
  public var genesisFile = "genesis.json"
  public var keyFile = "node.key"
  public var dataDir = "data"
  public var logLevel = "info"
  public var p2p = P2P()
  public var api = API()
  public var mempool = MempoolSettings()
  public var consensus = ConsensusSettings()
  public var storage = Storage()

  public struct P2P: Codable, Sendable, Equatable {
    public var listen = "127.0.0.1:26600"
    /// Addresses (`host:port`) this node keeps connections to.
    public var peers: [String] = []
    /// Node keys (hex) of observers this node admits, besides the validators of the current set.
    public var observers: [String] = []
    public var frameBytesMax = 32 * 1_024 * 1_024
    public var sendQueueMax = 1_024
    public var sendQueueBytesMax = 64 * 1_024 * 1_024
    public init() {}
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      self.init()
      listen = try container.decodeIfPresent(type(of: listen), forKey: .listen) ?? listen
      peers = try container.decodeIfPresent(type(of: peers), forKey: .peers) ?? peers
      observers = try container.decodeIfPresent(type(of: observers), forKey: .observers) ?? observers
      frameBytesMax = try container.decodeIfPresent(type(of: frameBytesMax), forKey: .frameBytesMax) ?? frameBytesMax
      sendQueueMax = try container.decodeIfPresent(type(of: sendQueueMax), forKey: .sendQueueMax) ?? sendQueueMax
      sendQueueBytesMax =
        try container.decodeIfPresent(type(of: sendQueueBytesMax), forKey: .sendQueueBytesMax) ?? sendQueueBytesMax
    }
    enum CodingKeys: String, CodingKey {
      case listen, peers, observers
      case frameBytesMax = "frame_bytes_max"
      case sendQueueMax = "send_queue_max"
      case sendQueueBytesMax = "send_queue_bytes_max"
    }
  }

  public struct API: Codable, Sendable, Equatable {
    public var listen = "127.0.0.1:8080"
    public var bodyBytesMax = 16 * 1_024 * 1_024
    public var pageSizeDefault = 100
    public var pageSizeMax = 1_000
    /// Longest a client may wait for a transaction's outcome in one request.
    public var waitSecondsMax = 30
    public init() {}
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      self.init()
      listen = try container.decodeIfPresent(type(of: listen), forKey: .listen) ?? listen
      bodyBytesMax = try container.decodeIfPresent(type(of: bodyBytesMax), forKey: .bodyBytesMax) ?? bodyBytesMax
      pageSizeDefault =
        try container.decodeIfPresent(type(of: pageSizeDefault), forKey: .pageSizeDefault) ?? pageSizeDefault
      pageSizeMax = try container.decodeIfPresent(type(of: pageSizeMax), forKey: .pageSizeMax) ?? pageSizeMax
      waitSecondsMax =
        try container.decodeIfPresent(type(of: waitSecondsMax), forKey: .waitSecondsMax) ?? waitSecondsMax
    }
    enum CodingKeys: String, CodingKey {
      case listen
      case bodyBytesMax = "body_bytes_max"
      case pageSizeDefault = "page_size_default"
      case pageSizeMax = "page_size_max"
      case waitSecondsMax = "wait_seconds_max"
    }
  }

  public struct MempoolSettings: Codable, Sendable, Equatable {
    public var transactionsMax = 100_000
    /// Clients are refused once this many transactions are pending, while
    /// peers' forwarded ones are admitted up to `transactionsMax`: intake then
    /// follows what the network commits, and every validator still gets what
    /// another one accepted (a transaction missing on one node would leave a
    /// gap in its signer's sequence there).
    public var clientTransactionsMax = 10_000
    public var bytesMax = 256 * 1_024 * 1_024
    public init() {}
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      self.init()
      transactionsMax =
        try container.decodeIfPresent(type(of: transactionsMax), forKey: .transactionsMax) ?? transactionsMax
      clientTransactionsMax =
        try container.decodeIfPresent(type(of: clientTransactionsMax), forKey: .clientTransactionsMax)
        ?? clientTransactionsMax
      bytesMax = try container.decodeIfPresent(type(of: bytesMax), forKey: .bytesMax) ?? bytesMax
    }
    enum CodingKeys: String, CodingKey {
      case transactionsMax = "transactions_max"
      case clientTransactionsMax = "client_transactions_max"
      case bytesMax = "bytes_max"
    }
  }

  public struct ConsensusSettings: Codable, Sendable, Equatable {
    public var tickMs = 100
    public var viewChangeTimeoutTicks = 20
    public var blockTransactionsMax = 5_000
    public var blockBytesMax = 8 * 1_024 * 1_024
    /// How long a primary with a small batch waits for more before proposing:
    /// a block has fixed costs (votes, fsyncs, the top of the state tree), and
    /// a stream of single submissions would otherwise pay them every few
    /// transactions. 0 proposes at once.
    public var proposalLingerMs = 20
    /// When a validator-set change removes this node's key, stop the node
    /// cleanly (exit 0) instead of following the chain as a non-voting node.
    public var stopWhenRemoved = false
    public init() {}
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      self.init()
      tickMs = try container.decodeIfPresent(type(of: tickMs), forKey: .tickMs) ?? tickMs
      viewChangeTimeoutTicks =
        try container.decodeIfPresent(type(of: viewChangeTimeoutTicks), forKey: .viewChangeTimeoutTicks)
        ?? viewChangeTimeoutTicks
      blockTransactionsMax =
        try container.decodeIfPresent(type(of: blockTransactionsMax), forKey: .blockTransactionsMax)
        ?? blockTransactionsMax
      blockBytesMax = try container.decodeIfPresent(type(of: blockBytesMax), forKey: .blockBytesMax) ?? blockBytesMax
      proposalLingerMs =
        try container.decodeIfPresent(type(of: proposalLingerMs), forKey: .proposalLingerMs) ?? proposalLingerMs
      stopWhenRemoved =
        try container.decodeIfPresent(type(of: stopWhenRemoved), forKey: .stopWhenRemoved) ?? stopWhenRemoved
    }
    enum CodingKeys: String, CodingKey {
      case tickMs = "tick_ms"
      case viewChangeTimeoutTicks = "view_change_timeout_ticks"
      case blockTransactionsMax = "block_transactions_max"
      case blockBytesMax = "block_bytes_max"
      case proposalLingerMs = "proposal_linger_ms"
      case stopWhenRemoved = "stop_when_removed"
    }
  }

  public struct Storage: Codable, Sendable, Equatable {
    /// Only "all" for now: every block, record version and tree node is kept, so
    /// proofs at any past height can be served.
    public var retention = "all"
    public init() {}
    public init(from decoder: any Decoder) throws {
      let container = try decoder.container(keyedBy: CodingKeys.self)
      retention = try container.decodeIfPresent(String.self, forKey: .retention) ?? "all"
    }
    enum CodingKeys: String, CodingKey { case retention }
  }

  enum CodingKeys: String, CodingKey {
    case id, role, p2p, api, mempool, consensus, storage
    case genesisFile = "genesis_file"
    case keyFile = "key_file"
    case dataDir = "data_dir"
    case logLevel = "log_level"
  }

  public init(id: String) { self.id = id }

  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    id = try container.decode(String.self, forKey: .id)
    var defaults = NodeConfig(id: id)
    defaults.role = try container.decodeIfPresent(PeerRole.self, forKey: .role) ?? .validator
    defaults.genesisFile = try container.decodeIfPresent(String.self, forKey: .genesisFile) ?? defaults.genesisFile
    defaults.keyFile = try container.decodeIfPresent(String.self, forKey: .keyFile) ?? defaults.keyFile
    defaults.dataDir = try container.decodeIfPresent(String.self, forKey: .dataDir) ?? defaults.dataDir
    defaults.logLevel = try container.decodeIfPresent(String.self, forKey: .logLevel) ?? defaults.logLevel
    defaults.p2p = try container.decodeIfPresent(P2P.self, forKey: .p2p) ?? defaults.p2p
    defaults.api = try container.decodeIfPresent(API.self, forKey: .api) ?? defaults.api
    defaults.mempool = try container.decodeIfPresent(MempoolSettings.self, forKey: .mempool) ?? defaults.mempool
    defaults.consensus = try container.decodeIfPresent(ConsensusSettings.self, forKey: .consensus) ?? defaults.consensus
    defaults.storage = try container.decodeIfPresent(Storage.self, forKey: .storage) ?? defaults.storage
    self = defaults
  }

  public struct Invalid: Error, CustomStringConvertible {
    public let field: String
    public let message: String
    public var code: String { "config.invalid" }
    public var description: String { "config.invalid: \(field): \(message)" }
  }

  public static func load(path: String) throws -> NodeConfig {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw Invalid(field: path, message: "cannot read the config file")
    }
    let config: NodeConfig
    do {
      config = try TOMLDecoder(strictDecoding: true).decode(
        NodeConfig.self, from: String(decoding: data, as: UTF8.self))
    } catch let error as TOMLParseError {
      throw Invalid(field: path, message: "line \(error.source.begin.line): \(error.description)")
    } catch let error as DecodingError {
      throw Invalid(field: Self.path(of: error), message: "\(Self.reason(of: error))")
    } catch {
      throw Invalid(field: path, message: "\(error)")
    }
    try config.validate()
    return config
  }

  private static func path(of error: DecodingError) -> String {
    let context: DecodingError.Context? =
      switch error {
      case .typeMismatch(_, let context), .valueNotFound(_, let context), .dataCorrupted(let context): context
      case .keyNotFound(let key, let context):
        DecodingError.Context(
          codingPath: context.codingPath.last?.stringValue == key.stringValue
            ? context.codingPath : context.codingPath + [key],
          debugDescription: context.debugDescription)
      @unknown default: nil
      }
    return context?.codingPath.map(\.stringValue).joined(separator: ".") ?? "config"
  }

  private static func reason(of error: DecodingError) -> String {
    switch error {
    case .typeMismatch(let type, _): "expected a value of type \(type)"
    case .valueNotFound(_, let context), .dataCorrupted(let context): context.debugDescription
    case .keyNotFound: "required"
    @unknown default: "\(error)"
    }
  }

  public func validate() throws {
    func require(_ condition: Bool, _ field: String, _ message: String) throws {
      if !condition { throw Invalid(field: field, message: message) }
    }
    try require(!id.isEmpty && id.utf8.count <= 64, "id", "1 to 64 bytes")
    try require(
      ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(logLevel), "log_level",
      "one of trace, debug, info, notice, warning, error, critical")
    try require(PeerNetwork.split(p2p.listen) != nil || p2p.listen.hasSuffix(":0"), "p2p.listen", "host:port")
    try require(PeerNetwork.split(api.listen) != nil || api.listen.hasSuffix(":0"), "api.listen", "host:port")
    for (index, peer) in p2p.peers.enumerated() {
      try require(PeerNetwork.split(peer) != nil, "p2p.peers[\(index)]", "\"\(peer)\" is not host:port")
    }
    for (index, key) in p2p.observers.enumerated() {
      try require(PublicKey(hex: key) != nil, "p2p.observers[\(index)]", "not a 64-hex-digit node key")
    }
    try require(
      (64 * 1_024...256 * 1_024 * 1_024).contains(p2p.frameBytesMax), "p2p.frame_bytes_max", "64 KiB to 256 MiB")
    try require((16...1_000_000).contains(p2p.sendQueueMax), "p2p.send_queue_max", "16 to 1,000,000")
    try require(
      (1_024 * 1_024...4 * 1_024 * 1_024 * 1_024).contains(p2p.sendQueueBytesMax), "p2p.send_queue_bytes_max",
      "1 MiB to 4 GiB")
    try require((1_024...1_024 * 1_024 * 1_024).contains(api.bodyBytesMax), "api.body_bytes_max", "1 KiB to 1 GiB")
    try require((1...api.pageSizeMax).contains(api.pageSizeDefault), "api.page_size_default", "1 to page_size_max")
    try require((1...1_000).contains(api.pageSizeMax), "api.page_size_max", "1 to 1,000")
    try require((0...300).contains(api.waitSecondsMax), "api.wait_seconds_max", "0 to 300")
    try require((1...100_000_000).contains(mempool.transactionsMax), "mempool.transactions_max", "1 to 100,000,000")
    try require(
      (1...mempool.transactionsMax).contains(mempool.clientTransactionsMax), "mempool.client_transactions_max",
      "1 to transactions_max")
    try require(
      mempool.bytesMax >= Limits.transactionBytesMax, "mempool.bytes_max", "at least one transaction (64 KiB)")
    try require((10...10_000).contains(consensus.tickMs), "consensus.tick_ms", "10 to 10,000")
    try require(
      (0...1_000).contains(consensus.proposalLingerMs)
        && consensus.proposalLingerMs * 4 < consensus.tickMs
          * consensus.viewChangeTimeoutTicks,
      "consensus.proposal_linger_ms",
      "0 to 1,000, and under a quarter of the view-change timeout")
    try require(
      (2...10_000).contains(consensus.viewChangeTimeoutTicks), "consensus.view_change_timeout_ticks", "2 to 10,000")
    try require(
      (1...Limits.blockTransactionCountMax).contains(consensus.blockTransactionsMax),
      "consensus.block_transactions_max", "1 to \(Limits.blockTransactionCountMax)")
    try require(
      (Limits.transactionBytesMax...Limits.blockBytesMax).contains(consensus.blockBytesMax),
      "consensus.block_bytes_max", "64 KiB to 16 MiB")
    try require(
      consensus.blockBytesMax + 1_024 * 1_024 <= p2p.frameBytesMax, "p2p.frame_bytes_max",
      "must exceed consensus.block_bytes_max by at least 1 MiB so a proposal fits in a frame")
    try require(storage.retention == "all", "storage.retention", "only \"all\" is supported")
  }

  /// The TOML text of this configuration, every setting spelt out with its meaning.
  public var toml: String {
    func quoted(_ text: String) -> String {
      "\"\(text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\""))\""
    }
    func list(_ items: [String]) -> String { "[" + items.map(quoted).joined(separator: ", ") + "]" }
    return """
      # Directory Ledger node configuration (every setting: docs/OPERATIONS.md).
      id = \(quoted(id))
      # "validator" votes (its node key must be in the validator set); "observer" follows and serves.
      role = \(quoted(role.name))
      genesis_file = \(quoted(genesisFile))
      key_file = \(quoted(keyFile))
      data_dir = \(quoted(dataDir))
      # trace, debug, info, notice, warning, error, critical
      log_level = \(quoted(logLevel))

      [p2p]
      listen = \(quoted(p2p.listen))
      # Peers this node dials and keeps connected (host:port).
      peers = \(list(p2p.peers))
      # Node keys of observers admitted besides the validators.
      observers = \(list(p2p.observers))
      frame_bytes_max = \(p2p.frameBytesMax)
      send_queue_max = \(p2p.sendQueueMax)
      send_queue_bytes_max = \(p2p.sendQueueBytesMax)

      [api]
      listen = \(quoted(api.listen))
      body_bytes_max = \(api.bodyBytesMax)
      page_size_default = \(api.pageSizeDefault)
      page_size_max = \(api.pageSizeMax)
      wait_seconds_max = \(api.waitSecondsMax)

      [mempool]
      transactions_max = \(mempool.transactionsMax)
      # Clients get 429 above this many pending; peers' transactions still enter up to transactions_max.
      client_transactions_max = \(mempool.clientTransactionsMax)
      bytes_max = \(mempool.bytesMax)

      [consensus]
      tick_ms = \(consensus.tickMs)
      view_change_timeout_ticks = \(consensus.viewChangeTimeoutTicks)
      block_transactions_max = \(consensus.blockTransactionsMax)
      block_bytes_max = \(consensus.blockBytesMax)
      proposal_linger_ms = \(consensus.proposalLingerMs)
      # true: stop cleanly once a validator-set change removes this node's key (false: keep following).
      stop_when_removed = \(consensus.stopWhenRemoved)

      [storage]
      # "all": every block, record version and state-tree node is kept (proofs at any past height).
      retention = \(quoted(storage.retention))

      """
  }
}

extension PeerRole {
  public init(from decoder: any Decoder) throws {
    let name = try decoder.singleValueContainer().decode(String.self)
    guard let role = Self.allCases.first(where: { $0.name == name }) else {
      throw DecodingError.dataCorrupted(
        DecodingError.Context(
          codingPath: decoder.codingPath, debugDescription: "\"\(name)\" is not validator or observer"))
    }
    self = role
  }

  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(name)
  }
}

/// A node's home directory: config.toml, node.key (0600), genesis.json, data/.
public struct NodeHome: Sendable {
  public let path: String
  public init(path: String) { self.path = path }

  public var configPath: String { path + "/config.toml" }
  public func resolve(_ relative: String) -> String { relative.hasPrefix("/") ? relative : path + "/" + relative }

  /// Creates the home: refuses to overwrite an existing config or key.
  public func initialize(config: NodeConfig, key: SecretKey, genesisJSON: [UInt8]) throws {
    let files = FileManager.default
    try files.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    guard !files.fileExists(atPath: configPath) else {
      throw NodeConfig.Invalid(field: configPath, message: "already exists; this home is initialised")
    }
    try KeyFile.write(key, to: resolve(config.keyFile))
    guard files.createFile(atPath: resolve(config.genesisFile), contents: Data(genesisJSON)) else {
      throw NodeConfig.Invalid(field: resolve(config.genesisFile), message: "cannot write the genesis file")
    }
    guard files.createFile(atPath: configPath, contents: Data(config.toml.utf8)) else {
      throw NodeConfig.Invalid(field: configPath, message: "cannot write the config file")
    }
  }
}

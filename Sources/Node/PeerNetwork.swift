import Consensus
import Foundation
public import Ledger
public import Logging
public import NIOCore
import NIOPosix

/// Splits the byte stream into frames: a 4-byte big-endian length, then that
/// many payload bytes. A length above the cap closes the connection before
/// anything is buffered for it.
struct FrameDecoder: ByteToMessageDecoder {
  typealias InboundOut = ByteBuffer
  let frameBytesMax: Int

  struct FrameTooLarge: Error { let length: UInt32 }

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    guard let length = buffer.getInteger(at: buffer.readerIndex, as: UInt32.self) else { return .needMoreData }
    guard length <= frameBytesMax else { throw FrameTooLarge(length: length) }
    guard buffer.readableBytes >= 4 + Int(length) else { return .needMoreData }
    buffer.moveReaderIndex(forwardBy: 4)
    context.fireChannelRead(Self.wrapInboundOut(buffer.readSlice(length: Int(length))!))
    return .continue
  }
}

/// Who this node is on the peer network.
public struct PeerIdentity: Sendable {
  let signer: HandshakeSigner
  public let role: PeerRole
  public var chainId: String { signer.chainId }
  public var genesisHash: Hash256 { signer.genesisHash }
  public var publicKey: PublicKey { signer.publicKey }

  public init(key: SecretKey, role: PeerRole, chainId: String, genesisHash: Hash256) {
    signer = HandshakeSigner(key: key, chainId: chainId, genesisHash: genesisHash)
    self.role = role
  }
}

/// The node key as the handshake may use it: it signs only handshake
/// digests (`PeerHandshake.digest`, which it computes itself), so the peer
/// network holds no key that could sign a vote. `SafetyRules` is the only
/// holder that signs consensus messages.
struct HandshakeSigner: Sendable {
  private let key: SecretKey
  let chainId: String
  let genesisHash: Hash256
  var publicKey: PublicKey { key.publicKey }

  init(key: SecretKey, chainId: String, genesisHash: Hash256) {
    self.key = key
    self.chainId = chainId
    self.genesisHash = genesisHash
  }

  /// Proves this node's key to `peer`, over both sides' challenges.
  func signHandshake(peer: PublicKey, peerChallenge: Hash256, ownChallenge: Hash256) -> Signature {
    key.sign(
      digest: PeerHandshake.digest(
        chainId: chainId, genesisHash: genesisHash, signer: publicKey, peer: peer, peerChallenge: peerChallenge,
        ownChallenge: ownChallenge))
  }
}

/// An authenticated connection to one peer. Sends go through a bounded queue:
/// when the peer reads too slowly, further frames to it are dropped (and
/// counted) rather than buffered without limit; consensus retransmits.
public final class PeerConnection: @unchecked Sendable {
  public let key: PublicKey
  public let role: PeerRole
  public let remoteAddress: String
  /// The node that dialled: decides which of two simultaneous connections survives.
  let initiator: PublicKey
  let channel: any Channel
  // Touched only on `channel.eventLoop`.
  private var queue: SendQueueBound
  private let onDrop: @Sendable () -> Void

  init(
    key: PublicKey, role: PeerRole, remoteAddress: String, initiator: PublicKey, channel: any Channel,
    sendQueueMax: Int, sendQueueBytesMax: Int, onDrop: @escaping @Sendable () -> Void
  ) {
    self.key = key
    self.role = role
    self.remoteAddress = remoteAddress
    self.initiator = initiator
    self.channel = channel
    queue = SendQueueBound(framesMax: sendQueueMax, bytesMax: sendQueueBytesMax)
    self.onDrop = onDrop
  }

  func send(_ framed: ByteBuffer) {
    channel.eventLoop.execute { [self] in
      let size = framed.readableBytes
      guard queue.take(size) else {
        onDrop()
        return
      }
      channel.writeAndFlush(framed).whenComplete { [self] _ in queue.release(size) }
    }
  }

  func close() { channel.close(promise: nil) }
}

/// The peer-to-peer side of a node: listens, dials configured peers with
/// backoff, authenticates both ways, admits only validators of the current set
/// and configured observers, and hands frames from admitted peers to `onFrame`.
public final class PeerNetwork: @unchecked Sendable {
  public struct Settings: Sendable {
    public var frameBytesMax = 32 * 1_024 * 1_024
    public var sendQueueMax = 1_024
    public var sendQueueBytesMax = 64 * 1_024 * 1_024
    public var handshakeTimeoutMs: Int64 = 5_000
    public var reconnectInitialMs = 200
    public var reconnectMaxMs = 5_000
    public init() {}
  }

  let identity: PeerIdentity
  let settings: Settings
  let group: any EventLoopGroup
  let logger: Logger
  /// Where proposals' transactions are taken from rather than decoded again.
  let knownTransactions: (any KnownTransactions)?
  private let lock = NSLock()
  private var connections: [PublicKey: PeerConnection] = [:]
  private var admittedKeys: Set<PublicKey>
  private var keysByAddress: [String: PublicKey] = [:]
  private var serverChannel: (any Channel)?
  private var dialers: [Task<Void, Never>] = []
  private var stopped = false
  private let onFrame: @Sendable (PeerFrame, PeerConnection) -> Void
  private let onEvent: @Sendable (Event) -> Void

  public enum Event: Sendable {
    case connected(PublicKey, PeerRole)
    case disconnected(PublicKey)
    case refused(code: String, address: String)
    case sendDropped
    case malformedFrame(PublicKey?)
  }

  public init(
    identity: PeerIdentity, admitted: Set<PublicKey>, settings: Settings = Settings(), group: any EventLoopGroup,
    logger: Logger, knownTransactions: (any KnownTransactions)? = nil,
    onFrame: @escaping @Sendable (PeerFrame, PeerConnection) -> Void,
    onEvent: @escaping @Sendable (Event) -> Void
  ) {
    self.identity = identity
    self.knownTransactions = knownTransactions
    self.admittedKeys = admitted
    self.settings = settings
    self.group = group
    self.logger = logger
    self.onFrame = onFrame
    self.onEvent = onEvent
  }

  /// Replaces who may connect (after a validator-set change); peers no longer named are disconnected.
  public func setAdmitted(_ keys: Set<PublicKey>) {
    let evicted = lock.withLock {
      admittedKeys = keys
      return connections.values.filter { !keys.contains($0.key) }
    }
    for connection in evicted {
      logger.warning("peer no longer admitted, disconnecting", metadata: ["peer": "\(connection.key.hex.prefix(16))"])
      connection.close()
    }
  }

  func isAdmitted(_ key: PublicKey) -> Bool { lock.withLock { admittedKeys.contains(key) } }

  public var peers: [PeerConnection] { lock.withLock { Array(connections.values) } }

  // MARK: Listening and dialling

  /// Starts listening; returns the bound port (useful with port 0).
  public func listen(host: String, port: Int) async throws -> Int {
    let bootstrap = ServerBootstrap(group: group)
      .serverChannelOption(.backlog, value: 256)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
      .childChannelInitializer { [self] channel in
        channel.eventLoop.makeCompletedFuture { try self.installHandlers(on: channel, dialledAddress: nil) }
      }
    let channel = try await bootstrap.bind(host: host, port: port).get()
    lock.withLock { serverChannel = channel }
    return channel.localAddress?.port ?? port
  }

  /// Keeps a connection to each `host:port` in `addresses`, reconnecting with exponential backoff.
  public func dial(_ addresses: [String]) {
    for address in addresses {
      let task = Task { [self] in await keepConnected(to: address) }
      lock.withLock { dialers.append(task) }
    }
  }

  private func keepConnected(to address: String) async {
    guard let (host, port) = Self.split(address) else {
      logger.error("peer address is not host:port", metadata: ["address": "\(address)"])
      return
    }
    var delayMs = settings.reconnectInitialMs
    while !Task.isCancelled, !lock.withLock({ stopped }) {
      let connectedKey = lock.withLock { keysByAddress[address].flatMap { connections[$0] } }
      if connectedKey != nil {
        delayMs = settings.reconnectInitialMs
        try? await Task.sleep(for: .milliseconds(500))
        continue
      }
      do {
        let channel = try await ClientBootstrap(group: group)
          .channelOption(.socketOption(.tcp_nodelay), value: 1)
          .connectTimeout(.seconds(3))
          .channelInitializer { [self] channel in
            channel.eventLoop.makeCompletedFuture { try self.installHandlers(on: channel, dialledAddress: address) }
          }
          .connect(host: host, port: port).get()
        try? await channel.closeFuture.get()
      } catch {
        logger.debug("dial failed", metadata: ["address": "\(address)", "error": "\(error)"])
      }
      // Jitter keeps restarted nodes from dialling in lockstep.
      let jitter = Int.random(in: 0...max(1, delayMs / 4))
      try? await Task.sleep(for: .milliseconds(delayMs + jitter))
      delayMs = min(delayMs * 2, settings.reconnectMaxMs)
    }
  }

  public static func split(_ address: String) -> (String, Int)? {
    guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
      (1...65_535).contains(port)
    else { return nil }
    return (String(address[..<colon]), port)
  }

  private func installHandlers(on channel: any Channel, dialledAddress: String?) throws {
    let handler = PeerHandshakeHandler(network: self, dialledAddress: dialledAddress)
    try channel.pipeline.syncOperations.addHandler(
      ByteToMessageHandler(FrameDecoder(frameBytesMax: settings.frameBytesMax)))
    try channel.pipeline.syncOperations.addHandler(handler)
  }

  public func stop() async {
    let (server, tasks, open) = lock.withLock {
      stopped = true
      return (serverChannel, dialers, Array(connections.values))
    }
    for task in tasks { task.cancel() }
    try? await server?.close()
    for connection in open { try? await connection.channel.close() }
  }

  // MARK: Sending

  static func framed(_ frame: PeerFrame, allocator: ByteBufferAllocator = ByteBufferAllocator()) -> ByteBuffer {
    let payload = frame.canonicalBytes
    var buffer = allocator.buffer(capacity: 4 + payload.count)
    buffer.writeInteger(UInt32(payload.count))
    buffer.writeBytes(payload)
    return buffer
  }

  public func send(_ frame: PeerFrame, to key: PublicKey) {
    guard let connection = lock.withLock({ connections[key] }) else { return }
    connection.send(Self.framed(frame))
  }

  /// Sends to every connected peer whose key `includes`, encoding once.
  public func broadcast(_ frame: PeerFrame, where includes: (PublicKey) -> Bool) {
    let targets = lock.withLock { connections.values.filter { includes($0.key) } }
    guard !targets.isEmpty else { return }
    let buffer = Self.framed(frame)
    for connection in targets { connection.send(buffer) }
  }

  /// The keys of the peers connected now.
  public var connectedKeys: Set<PublicKey> { lock.withLock { Set(connections.keys) } }

  // MARK: Called by the handshake handler

  func established(_ connection: PeerConnection, dialledAddress: String?) {
    let loser: PeerConnection? = lock.withLock {
      if let address = dialledAddress { keysByAddress[address] = connection.key }
      guard let existing = connections[connection.key] else {
        connections[connection.key] = connection
        return nil
      }
      // Both sides dialled: keep the connection opened by the lower key, the
      // same choice on both ends. Same initiator: the newer one replaces a stale one.
      let keepNew = connection.initiator == existing.initiator || connection.initiator < existing.initiator
      if keepNew {
        connections[connection.key] = connection
        return existing
      }
      return connection
    }
    if let loser {
      loser.close()
      if loser === connection { return }
    }
    logger.info(
      "peer connected",
      metadata: [
        "peer": "\(connection.key.hex.prefix(16))", "role": "\(connection.role.name)",
        "address": "\(connection.remoteAddress)",
      ])
    onEvent(.connected(connection.key, connection.role))
  }

  func closed(_ connection: PeerConnection) {
    let removed = lock.withLock {
      guard connections[connection.key] === connection else { return false }
      connections[connection.key] = nil
      return true
    }
    if removed {
      logger.info("peer disconnected", metadata: ["peer": "\(connection.key.hex.prefix(16))"])
      onEvent(.disconnected(connection.key))
    }
  }

  func deliver(_ frame: PeerFrame, from connection: PeerConnection) { onFrame(frame, connection) }
  func report(_ event: Event) { onEvent(event) }
}

/// Runs the handshake on a fresh connection, then forwards decoded frames.
final class PeerHandshakeHandler: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  typealias OutboundOut = ByteBuffer

  private let network: PeerNetwork
  private let dialledAddress: String?
  private let challenge: Hash256
  private var peerHello: PeerHello?
  private var connection: PeerConnection?
  private var timeout: Scheduled<Void>?

  init(network: PeerNetwork, dialledAddress: String?) {
    self.network = network
    self.dialledAddress = dialledAddress
    var generator = SystemRandomNumberGenerator()
    challenge = Hash256(bytes: (0..<32).map { _ in UInt8.random(in: 0...255, using: &generator) })!
  }

  private var identity: PeerIdentity { network.identity }

  func channelActive(context: ChannelHandlerContext) {
    let hello = PeerHello(
      chainId: identity.chainId, genesisHash: identity.genesisHash, nodeKey: identity.publicKey,
      role: identity.role, challenge: challenge)
    context.writeAndFlush(wrapOutboundOut(PeerNetwork.framed(.hello(hello))), promise: nil)
    let channel = context.channel
    timeout = context.eventLoop.scheduleTask(in: .milliseconds(network.settings.handshakeTimeoutMs)) {
      channel.close(promise: nil)
    }
    context.fireChannelActive()
  }

  func channelInactive(context: ChannelHandlerContext) {
    timeout?.cancel()
    if let connection { network.closed(connection) }
    context.fireChannelInactive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let buffer = unwrapInboundIn(data)
    let frame: PeerFrame
    do {
      frame = try PeerFrame(
        canonicalBytes: Array(buffer.readableBytesView), knownTransactions: network.knownTransactions)
    } catch {
      network.logger.warning(
        "malformed frame, closing", metadata: ["address": "\(address(context))", "error": "\(error)"])
      network.report(.malformedFrame(connection?.key))
      context.close(promise: nil)
      return
    }
    if let connection {
      switch frame {
      case .hello, .auth:
        network.report(.malformedFrame(connection.key))
        context.close(promise: nil)
      case .refusal(let code, let message):
        network.logger.warning("peer closed the connection", metadata: ["code": "\(code)", "message": "\(message)"])
        context.close(promise: nil)
      default:
        network.deliver(frame, from: connection)
      }
      return
    }
    switch frame {
    case .hello(let hello) where peerHello == nil:
      if let (code, message) = PeerHandshake.refusal(
        of: hello, chainId: identity.chainId, genesisHash: identity.genesisHash, ownKey: identity.publicKey,
        admitted: network.isAdmitted)
      {
        refuse(context, code: code, message: message)
        return
      }
      peerHello = hello
      let signature = identity.signer.signHandshake(
        peer: hello.nodeKey, peerChallenge: hello.challenge, ownChallenge: challenge)
      context.writeAndFlush(wrapOutboundOut(PeerNetwork.framed(.auth(signature))), promise: nil)
    case .auth(let signature):
      guard let hello = peerHello else {
        refuse(context, code: "peer.protocol", message: "auth before hello")
        return
      }
      let digest = PeerHandshake.digest(
        chainId: identity.chainId, genesisHash: identity.genesisHash, signer: hello.nodeKey,
        peer: identity.publicKey, peerChallenge: challenge, ownChallenge: hello.challenge)
      guard hello.nodeKey.verify(signature, digest: digest) else {
        refuse(
          context, code: "peer.bad_signature",
          message: "the handshake signature does not verify for \(hello.nodeKey.hex)")
        return
      }
      timeout?.cancel()
      let ownKey = identity.publicKey
      let connection = PeerConnection(
        key: hello.nodeKey, role: hello.role, remoteAddress: address(context),
        initiator: dialledAddress != nil ? ownKey : hello.nodeKey, channel: context.channel,
        sendQueueMax: network.settings.sendQueueMax, sendQueueBytesMax: network.settings.sendQueueBytesMax,
        onDrop: { [network] in network.report(.sendDropped) })
      self.connection = connection
      network.established(connection, dialledAddress: dialledAddress)
    case .refusal(let code, let message):
      network.logger.warning(
        "peer refused this node",
        metadata: ["address": "\(address(context))", "code": "\(code)", "message": "\(message)"])
      network.report(.refused(code: code, address: address(context)))
      context.close(promise: nil)
    default:
      refuse(context, code: "peer.protocol", message: "expected the handshake first")
    }
  }

  private func address(_ context: ChannelHandlerContext) -> String {
    context.channel.remoteAddress.map { "\($0.ipAddress ?? "?"):\($0.port ?? 0)" } ?? "unknown"
  }

  private func refuse(_ context: ChannelHandlerContext, code: String, message: String) {
    network.logger.warning(
      "refused peer", metadata: ["address": "\(address(context))", "code": "\(code)", "message": "\(message)"])
    network.report(.refused(code: code, address: address(context)))
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(PeerNetwork.framed(.refusal(code: code, message: message))))
      .whenComplete { _ in channel.close(promise: nil) }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if error is FrameDecoder.FrameTooLarge || error is ByteToMessageDecoderError {
      network.logger.warning("oversized or broken frame, closing", metadata: ["error": "\(error)"])
      network.report(.malformedFrame(connection?.key))
    }
    context.close(promise: nil)
  }
}

/// What one peer's send queue holds, bounded in frames and in bytes: frames
/// hold one transaction or a 5,000-transaction proposal, so a count alone
/// bounds nothing. A frame is taken when both bounds allow it, or when the
/// queue is empty (one frame, itself capped by `p2p.frame_bytes_max`, always fits).
struct SendQueueBound {
  let framesMax: Int
  let bytesMax: Int
  private(set) var frames = 0
  private(set) var bytes = 0

  init(framesMax: Int, bytesMax: Int) {
    self.framesMax = framesMax
    self.bytesMax = bytesMax
  }

  mutating func take(_ size: Int) -> Bool {
    guard frames == 0 || (frames < framesMax && bytes + size <= bytesMax) else { return false }
    frames += 1
    bytes += size
    return true
  }

  mutating func release(_ size: Int) {
    frames -= 1
    bytes -= size
  }
}

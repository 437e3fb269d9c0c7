import Foundation
import NIOCore
import NIOPosix

/// A TCP relay that makes a link slow and lossy, for the fault harness on a
/// machine without `tc netem`: every chunk is delivered after `latency ±
/// jitter`, and with probability `loss` after an extra retransmission delay —
/// what TCP turns a lost segment into. Order is kept per direction.
final class LinkShaper: @unchecked Sendable {
  struct Conditions: Sendable {
    var latencyMs: Double
    var jitterMs: Double
    var loss: Double
    var retransmitMs: Double = 200
  }

  let target: (host: String, port: Int)
  let conditions: Conditions
  private var server: (any Channel)?

  init(target: (host: String, port: Int), conditions: Conditions) {
    self.target = target
    self.conditions = conditions
  }

  /// Listens on a free loopback port; returns `host:port` to dial instead of the target.
  func start() async throws -> String {
    let group = MultiThreadedEventLoopGroup.singleton
    let conditions = self.conditions
    let target = self.target
    let server = try await ServerBootstrap(group: group)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelOption(.autoRead, value: false)
      .childChannelInitializer { inbound in
        ClientBootstrap(group: inbound.eventLoop)
          .connect(host: target.host, port: target.port)
          .flatMap { outbound in
            inbound.eventLoop.makeCompletedFuture {
              try inbound.pipeline.syncOperations.addHandler(ShapedForwarder(peer: outbound, conditions: conditions))
              try outbound.pipeline.syncOperations.addHandler(ShapedForwarder(peer: inbound, conditions: conditions))
              inbound.read()
            }
          }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    self.server = server
    return "127.0.0.1:\(server.localAddress?.port ?? 0)"
  }

  func stop() { server?.close(promise: nil) }
}

/// Forwards what one side reads to the other, each chunk after the link's delay.
final class ShapedForwarder: ChannelInboundHandler, @unchecked Sendable {
  typealias InboundIn = ByteBuffer
  let peer: any Channel
  let conditions: LinkShaper.Conditions
  /// Chunks never overtake each other: each leaves no earlier than the one before.
  private var lastDelivery = NIODeadline.now()

  init(peer: any Channel, conditions: LinkShaper.Conditions) {
    self.peer = peer
    self.conditions = conditions
  }

  func channelActive(context: ChannelHandlerContext) { context.read() }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let chunk = unwrapInboundIn(data)
    var delayMs = conditions.latencyMs + Double.random(in: -conditions.jitterMs...conditions.jitterMs)
    if Double.random(in: 0..<1) < conditions.loss { delayMs += conditions.retransmitMs }
    let due = max(lastDelivery, NIODeadline.now() + .microseconds(Int64(max(0, delayMs) * 1_000)))
    lastDelivery = due
    let peer = self.peer
    context.eventLoop.scheduleTask(deadline: due) { peer.writeAndFlush(chunk, promise: nil) }
  }

  func channelReadComplete(context: ChannelHandlerContext) { context.read() }

  func channelInactive(context: ChannelHandlerContext) {
    let peer = self.peer
    let closeAt = lastDelivery + .milliseconds(1)
    context.eventLoop.scheduleTask(deadline: closeAt) { peer.close(promise: nil) }
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    context.close(promise: nil)
  }
}

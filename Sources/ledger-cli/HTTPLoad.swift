import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A closed-loop HTTP/1.1 keep-alive load generator: `connections` connections,
/// each with one request in flight, for `duration`. Counts responses by status
/// and records each request's latency. Used by `ledger-cli bench` to measure
/// what one node serves.
enum HTTPLoad {
  struct Result: Sendable {
    var responses = 0
    var failures = 0
    var bytes = 0
    var latenciesNs: [UInt64] = []
    var seconds = 0.0
    var perSecond: Double { Double(responses) / max(seconds, 1e-9) }
  }

  final class Counter: @unchecked Sendable {
    let lock = NSLock()
    var result = Result()
    func add(status: HTTPResponseStatus, bytes: Int, latencyNs: UInt64) {
      lock.withLock {
        if status == .ok { result.responses += 1 } else { result.failures += 1 }
        result.bytes += bytes
        if result.latenciesNs.count < 1_000_000 { result.latenciesNs.append(latencyNs) }
      }
    }
  }

  /// Sends GET `paths[i % count]` in turn on each connection until the deadline.
  final class Driver: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart
    let paths: [String]
    let host: String
    let counter: Counter
    let deadline: NIODeadline
    let done: EventLoopPromise<Void>
    var next: Int
    var status: HTTPResponseStatus = .ok
    var bytes = 0
    var started: NIODeadline = .now()

    init(
      paths: [String], host: String, offset: Int, counter: Counter, deadline: NIODeadline, done: EventLoopPromise<Void>
    ) {
      self.paths = paths
      self.host = host
      self.counter = counter
      self.deadline = deadline
      self.done = done
      next = offset
    }

    func channelActive(context: ChannelHandlerContext) { send(context) }

    func send(_ context: ChannelHandlerContext) {
      guard NIODeadline.now() < deadline else {
        done.succeed(())
        context.close(promise: nil)
        return
      }
      let path = paths[next % paths.count]
      next += 1
      var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: path)
      head.headers.add(name: "Host", value: host)
      started = .now()
      context.write(wrapOutboundOut(.head(head)), promise: nil)
      context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      switch unwrapInboundIn(data) {
      case .head(let head):
        status = head.status
        bytes = 0
      case .body(let body): bytes += body.readableBytes
      case .end:
        counter.add(status: status, bytes: bytes, latencyNs: UInt64((NIODeadline.now() - started).nanoseconds))
        send(context)
      }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
      done.succeed(())
      context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) { done.succeed(()) }
  }

  static func run(host: String, port: Int, paths: [String], connections: Int, seconds: Double) async throws -> Result {
    let group = MultiThreadedEventLoopGroup.singleton
    let counter = Counter()
    let start = ContinuousClock.now
    let deadline = NIODeadline.now() + .milliseconds(Int64(seconds * 1_000))
    var futures: [EventLoopFuture<Void>] = []
    for index in 0..<connections {
      let loop = group.next()
      let done = loop.makePromise(of: Void.self)
      let driver = Driver(
        paths: paths, host: host, offset: index * 7919, counter: counter, deadline: deadline, done: done)
      _ = try await ClientBootstrap(group: loop)
        .channelOption(.socketOption(.tcp_nodelay), value: 1)
        .channelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            try channel.pipeline.syncOperations.addHandler(driver)
          }
        }
        .connect(host: host, port: port).get()
      futures.append(done.futureResult)
    }
    for future in futures { try await future.get() }
    var result = counter.lock.withLock { counter.result }
    result.seconds = (ContinuousClock.now - start).seconds
    return result
  }
}

extension Duration {
  var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// The value at fraction `q` (0…1) of sorted samples (the nearest rank).
func percentile<Value: Numeric>(_ sorted: [Value], _ q: Double) -> Value {
  guard !sorted.isEmpty else { return .zero }
  return sorted[min(sorted.count - 1, Int((Double(sorted.count - 1) * q).rounded()))]
}

internal import CMalloc
import Consensus
import Foundation
import Hummingbird
public import Ledger
public import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle

/// Runs a node from its home directory until SIGTERM or SIGINT: the store,
/// the consensus engine, the peer network and the HTTP API.
public enum NodeRunner {
  public struct Failure: Error, CustomStringConvertible {
    public let code: String
    public let message: String
    public var description: String { "\(code): \(message)" }
  }

  /// glibc's defaults let a long-running node's heap grow without bound: one
  /// arena per busy thread, and after the first large block (a block's
  /// execution, a cache generation) is freed, large blocks stop being mapped
  /// and fragment the heap instead. Measured under load: private memory kept
  /// climbing (180 → 400 MB in 60 s) with the defaults and levelled off at 210–250 MB
  /// with these (docs/BENCHMARKS.md).
  static func boundHeapGrowth() {
    _ = mallopt(M_ARENA_MAX, 2)
    _ = mallopt(M_MMAP_THRESHOLD, 1 << 20)
  }

  /// With `parentProcess`, the node shuts down cleanly when that process is
  /// gone (local networks: nodes never outlive the command that started them).
  public static func run(home: NodeHome, logLevel: String? = nil, parentProcess: Int32? = nil) async throws {
    boundHeapGrowth()
    var config = try NodeConfig.load(path: home.configPath)
    if let logLevel { config.logLevel = logLevel }
    try config.validate()
    var logger = Logger(label: "dirledger.node")
    logger.logLevel = Logger.Level(rawValue: config.logLevel) ?? .info
    logger[metadataKey: "node"] = "\(config.id)"

    let key: SecretKey
    do {
      key = try KeyFile.read(from: home.resolve(config.keyFile))
    } catch {
      throw Failure(code: "node.key", message: "\(error)")
    }
    let genesis: Genesis
    do {
      genesis = try Genesis.load(path: home.resolve(config.genesisFile))
    } catch {
      throw Failure(code: "genesis.invalid", message: "\(error)")
    }
    let dataPath = home.resolve(config.dataDir)
    try FileManager.default.createDirectory(atPath: dataPath, withIntermediateDirectories: true)
    let store: LedgerStore
    // Opening is quick unless the store converts an older layout or
    // rebuilds its record-key filter over millions of records: the time says which.
    let openStarted = ContinuousClock.now
    do {
      store = try LedgerStore(path: dataPath + "/ledger", genesis: genesis)
    } catch {
      throw Failure(code: "store.open", message: "\(error)")
    }
    logger.info(
      "store opened",
      metadata: [
        "height": "\(store.head.height)",
        "ms": "\(Int(LedgerExecutor.milliseconds(since: openStarted)))",
      ])
    let metrics = NodeMetrics()
    let engine = try NodeEngine(
      config: config, key: key, store: store, walPath: dataPath + "/consensus.wal", dataPath: dataPath,
      logger: logger, metrics: metrics,
      onHalt: { reason in
        // A node that cannot store what it agreed to must not keep voting: exit
        // non-zero so the service manager reports it (docs/OPERATIONS.md).
        Task {
          try? await Task.sleep(for: .milliseconds(200))
          FileHandle.standardError.write(Data("node halted: \(reason)\n".utf8))
          exit(3)
        }
      },
      onStopRequested: { _ in
        // The same path as an operator's SIGTERM: the HTTP server drains, peers close, the store closes.
        kill(getpid(), SIGTERM)
      })
    let service = NodeService(
      engine: engine, config: config,
      identity: PeerIdentity(key: key, role: config.role, chainId: store.chainId, genesisHash: store.genesisHash),
      store: store, logger: logger, metrics: metrics,
      parentProcess: parentProcess)
    guard let (apiHost, apiPort) = PeerNetwork.split(config.api.listen) else {
      throw Failure(code: "config.invalid", message: "api.listen: host:port")
    }
    let apiLogger = logger
    let app = Application(
      router: HTTPAPI.router(engine: engine, metrics: metrics),
      configuration: .init(address: .hostname(apiHost, port: apiPort), serverName: "dirledger"),
      services: [service],
      onServerRunning: { channel in
        apiLogger.info("HTTP API listening", metadata: ["address": "\(channel.localAddress?.description ?? "?")"])
      },
      logger: logger)
    logger.info(
      "node starting",
      metadata: [
        "chain": "\(genesis.chainId)", "role": "\(config.role.name)", "height": "\(store.head.height)",
        "nodeKey": "\(key.publicKey.hex)",
      ])
    try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    logger.info("node stopped", metadata: ["height": "\(store.head.height)"])
  }
}

/// The node's background work as a lifecycle service: the peer network, the
/// frame consumers and the consensus clock. Stops on graceful shutdown.
struct NodeService: Service {
  let engine: NodeEngine
  let config: NodeConfig
  /// The node key as the handshake may use it; the engine's replica holds the vote signer.
  let identity: PeerIdentity
  let store: LedgerStore
  let logger: Logger
  let metrics: NodeMetrics
  let parentProcess: Int32?

  /// Frames waiting for the engine; beyond this, new ones are dropped (consensus retransmits).
  static let inboundFramesMax = 10_000
  /// Forwarded transactions waiting to be checked and admitted; beyond this,
  /// further frames are dropped (and counted as `inbound_queue_full`).
  static let inboundTransactionsMax = 50_000
  /// Forwarded transactions are checked this many at a time, asking the
  /// engine before each slice which still need it. A proposal validated
  /// meanwhile checks what it holds that the engine has not seen checked, so
  /// whatever is being checked here at that moment is checked twice: with
  /// whole frames (≈ 500 transactions) that was 1.5–2.2 % of a backup's
  /// checks at full rate and 3.6–7.9 % at half rate, now 0.2–0.4 and 1.4–1.7 %.
  static let forwardedCheckSlice = 64

  func run() async throws {
    let (consensusFrames, consensusInput) = AsyncStream.makeStream(
      of: (PeerFrame, PublicKey, PeerRole).self, bufferingPolicy: .bufferingOldest(Self.inboundFramesMax))
    // Bounded by transactions, not frames: a frame holds one to 10,000.
    let (transactionFrames, transactionInput) = AsyncStream.makeStream(
      of: [SignedTransaction].self, bufferingPolicy: .unbounded)
    let inboundTransactions = CountingBound(limit: Self.inboundTransactionsMax)
    let decoded = DecodedTransactions(pending: engine.pendingByLeafHash)
    var settings = PeerNetwork.Settings()
    settings.frameBytesMax = config.p2p.frameBytesMax
    settings.sendQueueMax = config.p2p.sendQueueMax
    settings.sendQueueBytesMax = config.p2p.sendQueueBytesMax
    let metrics = self.metrics
    let engine = self.engine
    let network = PeerNetwork(
      identity: identity,
      admitted: await engine.admittedPeers, settings: settings, group: MultiThreadedEventLoopGroup.singleton,
      logger: logger, knownTransactions: decoded,
      onFrame: { frame, connection in
        if case .transactions(let transactions) = frame {
          if inboundTransactions.take(transactions.count) {
            decoded.queue(transactions)
            transactionInput.yield(transactions)
          } else {
            metrics.peerRejected("inbound_queue_full")
          }
        } else if case .dropped = consensusInput.yield((frame, connection.key, connection.role)) {
          metrics.peerRejected("inbound_queue_full")
        }
      },
      onEvent: { event in
        switch event {
        case .connected(let key, let role): Task { await engine.peerConnected(key, role: role) }
        case .disconnected: Task { await engine.peerDisconnected() }
        case .refused(let code, _): metrics.peerRejected(code)
        case .sendDropped: metrics.peerRejected("send_queue_full")
        case .malformedFrame: metrics.peerRejected("malformed_frame")
        }
      })
    await engine.attach(network)
    guard let (host, port) = PeerNetwork.split(config.p2p.listen) else { return }
    let bound = try await network.listen(host: host, port: port)
    logger.info("peer network listening", metadata: ["address": "\(host):\(bound)"])
    network.dial(config.p2p.peers)

    await withGracefulShutdownHandler {
      await withTaskGroup(of: Void.self) { group in
        group.addTask {
          for await (frame, key, role) in consensusFrames { await engine.receive(frame, from: key, role: role) }
        }
        group.addTask {
          for await forwarded in transactionFrames {
            defer { inboundTransactions.give(forwarded.count) }
            for slice in forwarded.chunks(of: Self.forwardedCheckSlice) {
              // After the admission: an admitted one is pending by then, so a proposal finds it either way.
              defer { decoded.dequeue(slice) }
              // Transactions already seen (in a proposal, or forwarded twice) are not checked again.
              let transactions = await engine.needingVerification(Array(slice))
              guard !transactions.isEmpty else { continue }
              let valid = LedgerExecutor.verifySignatures(transactions)
              let refused = await engine.admitForwarded(transactions, valid: valid)
              if refused > 0 { metrics.peerRejected("forwarded_bad_signature") }
            }
          }
        }
        group.addTask {
          let interval = Duration.milliseconds(config.consensus.tickMs)
          while !Task.isCancelled {
            try? await Task.sleep(for: interval)
            await engine.tick()
            if let parentProcess, getppid() != parentProcess {
              logger.info("the process that started this node is gone; stopping")
              kill(getpid(), SIGTERM)
              return
            }
          }
        }
        await withTaskCancellationHandler {
          try? await gracefulShutdown()
        } onCancel: {
        }
        consensusInput.finish()
        transactionInput.finish()
        group.cancelAll()
      }
    } onGracefulShutdown: {
      logger.info("shutting down")
    }
    await network.stop()
  }
}

/// A count that may not exceed `limit`, shared between the threads that add
/// to a queue and the task that drains it.
final class CountingBound: @unchecked Sendable {
  private let lock = NSLock()
  private var count = 0
  let limit: Int

  init(limit: Int) { self.limit = limit }

  /// Reserves `amount`; false (and nothing reserved) when it would exceed the limit.
  func take(_ amount: Int) -> Bool {
    lock.withLock {
      guard count + amount <= limit else { return false }
      count += amount
      return true
    }
  }

  func give(_ amount: Int) { lock.withLock { count -= amount } }
}

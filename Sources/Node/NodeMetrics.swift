import Consensus
import Foundation
public import Metrics
public import Prometheus

/// The node's metrics, through swift-metrics with a Prometheus registry of its
/// own (several nodes may share a process in tests). Names: docs/OPERATIONS.md.
public final class NodeMetrics: Sendable {
  public let registry = PrometheusCollectorRegistry()
  let factory: PrometheusMetricsFactory

  let committedHeight: Metrics.Gauge
  let committedTransactions: Metrics.Counter
  let rejectedTransactions: Metrics.Counter
  let commitLatency: Metrics.Timer
  let blockTransactions: Metrics.Recorder
  let mempoolTransactions: Metrics.Gauge
  let view: Metrics.Gauge
  let viewChanges: Metrics.Counter
  let peers: Metrics.Gauge
  let storeBytes: Metrics.Gauge
  let walRecords: Metrics.Gauge
  /// BIP-340 transaction signatures checked here; the ceiling assumes one per transaction per node.
  let signatureChecks: Metrics.Counter

  public init() {
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.durationHistogramBuckets["ledger_commit_latency_seconds"] = [
      .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(200),
      .milliseconds(500), .seconds(1), .seconds(2), .seconds(5), .seconds(10), .seconds(30),
    ]
    factory.valueHistogramBuckets["ledger_block_transactions"] = [0, 1, 10, 100, 500, 1_000, 2_000, 5_000, 10_000]
    self.factory = factory
    committedHeight = Metrics.Gauge(label: "ledger_committed_height", factory: factory)
    committedTransactions = Metrics.Counter(label: "ledger_committed_transactions_total", factory: factory)
    rejectedTransactions = Metrics.Counter(label: "ledger_committed_rejected_transactions_total", factory: factory)
    commitLatency = Metrics.Timer(label: "ledger_commit_latency_seconds", factory: factory)
    blockTransactions = Metrics.Recorder(label: "ledger_block_transactions", factory: factory)
    mempoolTransactions = Metrics.Gauge(label: "ledger_mempool_transactions", factory: factory)
    view = Metrics.Gauge(label: "ledger_consensus_view", factory: factory)
    viewChanges = Metrics.Counter(label: "ledger_consensus_view_changes_total", factory: factory)
    peers = Metrics.Gauge(label: "ledger_peers", factory: factory)
    storeBytes = Metrics.Gauge(label: "ledger_leveldb_bytes", factory: factory)
    walRecords = Metrics.Gauge(label: "ledger_wal_records", factory: factory)
    signatureChecks = Metrics.Counter(label: "ledger_signature_checks_total", factory: factory)
  }

  /// Consensus messages the replica dropped, by reason.
  func consensusDropped(_ reason: DropReason, count: Int) {
    Metrics.Counter(
      label: "ledger_consensus_messages_dropped_total", dimensions: [("reason", reason.rawValue)], factory: factory
    )
    .increment(by: count)
  }

  /// Peer-level refusals: handshakes refused, malformed frames, sends dropped on full queues.
  func peerRejected(_ reason: String) {
    Metrics.Counter(label: "ledger_peer_rejections_total", dimensions: [("reason", reason)], factory: factory)
      .increment()
  }

  /// Transactions refused at admission, by error code.
  func admissionRejected(_ code: String) {
    Metrics.Counter(label: "ledger_admission_rejections_total", dimensions: [("code", code)], factory: factory)
      .increment()
  }

  func httpRequest(status: Int) {
    Metrics.Counter(label: "ledger_http_responses_total", dimensions: [("status", "\(status)")], factory: factory)
      .increment()
  }

  public func exposition() -> String { registry.emitToString() }
}

/// Bytes used by the files under `path` (LevelDB's tables and logs).
func directoryBytes(_ path: String) -> Int {
  guard let enumerator = FileManager.default.enumerator(atPath: path) else { return 0 }
  var total = 0
  while let name = enumerator.nextObject() as? String {
    let attributes = try? FileManager.default.attributesOfItem(atPath: path + "/" + name)
    total += (attributes?[.size] as? Int) ?? 0
  }
  return total
}

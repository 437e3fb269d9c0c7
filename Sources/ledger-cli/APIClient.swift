import Foundation
import Ledger
import NIOHTTP1

/// A client of the nodes' HTTP API (docs/openapi.yaml). Given several nodes,
/// each request goes to the first that answers: a node that refuses the
/// connection is passed over at once, one that does not accept it within a
/// second after that second. Errors a node returns keep their code, so the
/// CLI prints `Error: tx.replayed: …`.
struct APIClient: Sendable {
  /// The node's committed height, from `/v1/status`.
  func height() async throws -> UInt64 {
    (try await get("/v1/status")["height"] as? NSNumber)?.uint64Value ?? 0
  }

  /// Base URLs in the order they are tried; at least one.
  let bases: [String]
  var base: String { bases[0] }

  /// `node`: one URL, or several separated by commas.
  init(node: String) throws { try self.init(nodes: [node]) }

  /// `nodes`: URLs, each of which may be a comma-separated list (`--node` repeated or `--node A,B`).
  init(nodes: [String]) throws {
    let urls = nodes.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }
    guard !urls.isEmpty, urls.count <= 64 else {
      throw CLIError(code: "input.missing", message: "--node: give 1 to 64 node API URLs")
    }
    bases = try urls.map { node in
      var base = node
      while base.hasSuffix("/") { base.removeLast() }
      guard let url = URL(string: base), url.scheme == "http" || url.scheme == "https", url.host != nil else {
        throw CLIError(code: "input.invalid_url", message: "--node \(node): expected a URL like http://127.0.0.1:8080")
      }
      return base
    }
  }

  func get(_ path: String, query: [String: String] = [:]) async throws -> [String: Any] {
    try await send(.GET, path, query: query, body: nil)
  }

  func post(_ path: String, json: [String: Any]) async throws -> [String: Any] {
    try await send(.POST, path, query: [:], body: try JSONSerialization.data(withJSONObject: json))
  }

  func getData(_ path: String, query: [String: String] = [:]) async throws -> Data {
    let (data, status) = try await raw(.GET, path, query: query, body: nil)
    guard status == 200 else { throw Self.error(from: data, status: status) }
    return data
  }

  private func send(_ method: HTTPMethod, _ path: String, query: [String: String], body: Data?) async throws
    -> [String: Any]
  {
    let (data, status) = try await raw(method, path, query: query, body: body)
    guard (200..<300).contains(status) else { throw Self.error(from: data, status: status) }
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw CLIError(code: "node.bad_response", message: "\(base)\(path) answered something that is not a JSON object")
    }
    return object
  }

  private func raw(_ method: HTTPMethod, _ path: String, query: [String: String], body: Data?) async throws -> (
    Data, Int
  ) {
    var failures: [String] = []
    for base in bases {
      var components = URLComponents(string: base + path)!
      if !query.isEmpty {
        components.queryItems = query.sorted { $0.key < $1.key }.map { URLQueryItem(name: $0.key, value: $0.value) }
      }
      do {
        let reply = try await NodeHTTP.exchange(
          method, components.url!.absoluteString, json: body, using: NodeHTTP.failFastClient)
        return (reply.body, reply.status)
      } catch {
        // Unreachable or silent: the next node may answer. An HTTP error reply is an answer, and is not retried.
        failures.append("\(base): \(error)")
      }
    }
    throw CLIError(code: "node.unreachable", message: failures.joined(separator: "; "))
  }

  static func error(from data: Data, status: Int) -> CLIError {
    if let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
      let error = object["error"] as? [String: Any], let code = error["code"] as? String
    {
      return CLIError(code: code, message: (error["message"] as? String) ?? "HTTP \(status)")
    }
    return CLIError(code: "node.http_\(status)", message: String(decoding: data.prefix(200), as: UTF8.self))
  }

  // MARK: Transactions

  /// The sequence number `signer` should use next (committed plus pending at this node).
  func nextSequence(of signer: PublicKey) async throws -> UInt64 {
    let account = try await get("/v1/accounts/\(signer.hex)")
    guard let text = account["nextSequence"] as? String, let next = UInt64(text) else {
      throw CLIError(code: "node.bad_response", message: "account without nextSequence")
    }
    return next
  }

  func submit(_ transaction: SignedTransaction) async throws -> Hash256 {
    _ = try await post("/v1/transactions", json: ["transaction": Hex.encode(transaction.canonicalBytes)])
    return transaction.id
  }

  /// Waits (long-polling) until the transaction is committed; returns its status object.
  func waitForOutcome(_ id: Hash256, timeoutSeconds: Int) async throws -> [String: Any] {
    let deadline = Date().addingTimeInterval(TimeInterval(timeoutSeconds))
    while true {
      let remaining = max(0, min(30, Int(deadline.timeIntervalSinceNow.rounded(.up))))
      let status = try await get("/v1/transactions/\(id.hex)", query: ["wait": "\(remaining)"])
      if status["status"] as? String == "committed" { return status }
      guard Date() < deadline else {
        throw CLIError(
          code: "tx.timeout", message: "transaction \(id.hex) was not committed within \(timeoutSeconds) s")
      }
    }
  }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP exchange with a node's API, for every client in the CLI (and the
/// tests). AsyncHTTPClient rather than Foundation's URLSession: on Linux a
/// URLSession request cancelled while in flight can trap the whole process
/// (swift-corelibs-foundation issue 3292), and the bench and the fault
/// harness cancel and time out requests as a matter of course.
enum NodeHTTP {
  struct Reply: Sendable {
    let status: Int
    let body: Data
    /// Header names in lower case.
    let headers: [String: String]
  }

  /// The largest response read: a page of blocks or a proof bundle is far smaller.
  static let responseBytesMax = 64 << 20

  /// Up to 64 keep-alive connections per node, so the bench's lanes each keep their own.
  static let client: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)
    configuration.redirectConfiguration = .disallow
    configuration.decompression = .disabled
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
  }()

  /// For an operator's commands: a node that refuses the connection fails the
  /// request at once (no retries of the connection), and one that does not
  /// answer the connection within a second fails then, so `APIClient` can go
  /// on to the next node it was given.
  static let failFastClient: HTTPClient = {
    var configuration = HTTPClient.Configuration()
    configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 8)
    configuration.connectionPool.retryConnectionEstablishment = false
    configuration.timeout.connect = .seconds(1)
    configuration.redirectConfiguration = .disallow
    configuration.decompression = .disabled
    return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
  }()

  /// Sends one request; a JSON body is labelled as such. Throws when the node
  /// cannot be reached, does not answer within `timeout`, or answers more than
  /// `responseBytesMax` bytes.
  static func exchange(
    _ method: HTTPMethod, _ url: String, json body: Data? = nil, timeout: TimeAmount = .seconds(60),
    using httpClient: HTTPClient = client
  ) async throws -> Reply {
    try await exchange(method, url, body: body, contentType: "application/json", timeout: timeout, using: httpClient)
  }

  /// Sends one request whose body is labelled `contentType`.
  static func exchange(
    _ method: HTTPMethod, _ url: String, body: Data?, contentType: String, timeout: TimeAmount = .seconds(60),
    using httpClient: HTTPClient = client
  ) async throws -> Reply {
    var request = HTTPClientRequest(url: url)
    request.method = method
    if let body {
      request.headers.add(name: "Content-Type", value: contentType)
      request.body = .bytes(ByteBuffer(bytes: body))
    }
    let response = try await httpClient.execute(request, timeout: timeout)
    let buffer = try await response.body.collect(upTo: responseBytesMax)
    var headers: [String: String] = [:]
    for (name, value) in response.headers { headers[name.lowercased()] = value }
    return Reply(status: Int(response.status.code), body: Data(buffer.readableBytesView), headers: headers)
  }
}

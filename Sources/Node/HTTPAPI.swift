import Foundation
public import Hummingbird
public import Ledger
import NIOCore

/// An API error: a stable `code`, a message for people, and the HTTP status.
/// Body: `{"error": {"code": "...", "message": "..."}}` (docs/openapi.yaml, Error).
struct APIError: HTTPResponseError {
  let status: HTTPResponse.Status
  let code: String
  let message: String
  var retryAfterSeconds: Int?

  init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfterSeconds: Int? = nil) {
    self.status = status
    self.code = code
    self.message = message
    self.retryAfterSeconds = retryAfterSeconds
  }

  static func badRequest(_ code: String, _ message: String) -> APIError { APIError(.badRequest, code, message) }
  static func notFound(_ what: String) -> APIError { APIError(.notFound, "not_found", "\(what) does not exist") }

  func response(from request: Request, context: some RequestContext) throws -> Response {
    var response = HTTPAPI.json(["error": ["code": code, "message": message]], status: status)
    if let retryAfterSeconds { response.headers[.retryAfter] = "\(retryAfterSeconds)" }
    return response
  }
}

/// The node's HTTP API (docs/openapi.yaml). Every handler validates its input
/// strictly and answers JSON; reads go through the engine so they never see a
/// half-applied block.
public enum HTTPAPI {
  public static let batchTransactionsMax = 10_000

  static let encoder: JSONEncoder = {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return encoder
  }()

  static func json(_ value: some Encodable, status: HTTPResponse.Status = .ok) -> Response {
    let data = (try? encoder.encode(value)) ?? Data(#"{"error":{"code":"internal","message":"encoding failed"}}"#.utf8)
    return json(encoded: data, status: status)
  }

  /// A response whose JSON body is already encoded.
  static func json(encoded body: some Sequence<UInt8>, status: HTTPResponse.Status) -> Response {
    Response(
      status: status, headers: [.contentType: "application/json; charset=utf-8"],
      body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
  }

  public static func router(engine: NodeEngine, metrics: NodeMetrics) -> Router<BasicRequestContext> {
    let router = Router(context: BasicRequestContext.self)
    router.middlewares.add(CountingMiddleware(metrics: metrics))
    let config = engine.config
    let pageSize = PageSize(defaultSize: config.api.pageSizeDefault, maximum: config.api.pageSizeMax)

    router.get("/healthz") { _, _ in
      let status = await engine.status()
      if let halted = status.halted { throw APIError(.serviceUnavailable, "node.halted", halted) }
      return json(["ok": true])
    }
    router.get("/metrics") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: metrics.exposition())))
    }
    router.get("/openapi.yaml") { _, _ in
      Response(
        status: .ok, headers: [.contentType: "application/yaml"],
        body: ResponseBody(byteBuffer: ByteBuffer(string: OpenAPIDocument.yaml)))
    }
    router.get("/v1/status") { _, _ in json(await engine.status()) }

    // MARK: Transactions

    router.post("/v1/transactions") { request, _ in
      let body = try await readBody(request, limit: config.api.bodyBytesMax)
      let (transaction, size) = try submittedTransaction(body, binary: carriesCanonicalBytes(request))
      guard await engine.hasRoomForClient(1) else { throw mempoolFull }
      let signaturesValid = transaction.signaturesAreValid
      await engine.noteVerified([(transaction, signaturesValid)])
      guard signaturesValid else {
        throw APIError.badRequest(
          "tx.bad_signature", "transaction: a signature does not verify over the transaction id")
      }
      switch await engine.admit([(transaction, size)], forward: true)[0] {
      case .success(let id): return json(["id": id.hex, "status": "pending"], status: .accepted)
      case .failure(let rejection): throw apiError(for: rejection)
      }
    }

    router.post("/v1/transactions/batch") { request, _ in
      let body = try await readBody(request, limit: config.api.bodyBytesMax)
      let submitted = try submittedBatch(body, binary: carriesCanonicalBytes(request))
      var outcomes: [BatchOutcome?] = Array(repeating: nil, count: submitted.count)
      var decoded: [(index: Int, transaction: SignedTransaction, size: Int)] = []
      for (index, element) in submitted.enumerated() {
        switch element {
        case .success(let (transaction, size)): decoded.append((index, transaction, size))
        case .failure(let error): outcomes[index] = BatchOutcome(index: index, error: error)
        }
      }
      guard await engine.hasRoomForClient(decoded.count) else { throw mempoolFull }
      let valid = LedgerExecutor.verifySignatures(decoded.map(\.transaction))
      await engine.noteVerified(Array(zip(decoded.map(\.transaction), valid)))
      var admissible: [(SignedTransaction, size: Int)] = []
      var admissibleIndexes: [Int] = []
      for (position, entry) in decoded.enumerated() {
        if valid[position] {
          admissible.append((entry.transaction, entry.size))
          admissibleIndexes.append(entry.index)
        } else {
          outcomes[entry.index] = BatchOutcome(
            index: entry.index,
            error: .badRequest("tx.bad_signature", "transactions[\(entry.index)]: a signature does not verify"))
        }
      }
      let results = await engine.admit(admissible, forward: true)
      for (position, result) in results.enumerated() {
        let index = admissibleIndexes[position]
        switch result {
        case .success(let id): outcomes[index] = BatchOutcome(index: index, id: id.hex)
        case .failure(let rejection): outcomes[index] = BatchOutcome(index: index, error: apiError(for: rejection))
        }
      }
      let all = outcomes.compactMap { $0 }
      if all.allSatisfy({ $0.error?.code == "mempool.full" }) {
        throw mempoolFull
      }
      // Nothing admitted: the request as a whole failed; say why with the first refusal.
      if !all.contains(where: { $0.id != nil }), let first = all.first(where: { $0.error != nil }),
        let error = first.error
      {
        throw APIError(
          .badRequest, error.code,
          "none of the \(all.count) transactions was admitted; transactions[\(first.index)]: \(error.message)")
      }
      return json(
        encoded: BatchResponse(accepted: all.count { $0.id != nil }, results: all).jsonBytes, status: .accepted)
    }

    router.get("/v1/transactions/:id") { request, context in
      let id = try hashParameter(context.parameters.get("id"), field: "id")
      let waitSeconds = try integerQuery(request, "wait", range: 0...config.api.waitSecondsMax) ?? 0
      let deadline = ContinuousClock.now + .seconds(waitSeconds)
      while true {
        let commitsSeen = engine.commitNotifier.commits
        switch try await engine.status(of: id) {
        case .committed(let transaction, let location):
          return json(
            TransactionView(
              id: id.hex, status: "committed", height: location.height, index: location.index,
              result: ResultView(code: location.result.code, message: location.result.message),
              transaction: transaction))
        // Only a transaction pending here is waited for: an id this node has
        // never seen answers at once, so guessed ids cannot hold requests open.
        case .pending where ContinuousClock.now < deadline:
          await engine.commitNotifier.nextCommit(after: commitsSeen, timeout: deadline - ContinuousClock.now)
          try Task.checkCancellation()
        case .pending:
          return json(TransactionView(id: id.hex, status: "pending"))
        case .unknown:
          throw APIError(.notFound, "not_found", "transaction \(id.hex) is neither pending nor committed here")
        }
      }
    }

    router.get("/v1/accounts/:key") { _, context in
      guard let text = context.parameters.get("key"), let key = PublicKey(hex: text) else {
        throw APIError.badRequest("request.invalid_field", "key: 64 hex digits are required")
      }
      let sequence = await engine.nextSequence(of: key)
      return json(["key": key.hex, "committedSequence": "\(sequence.committed)", "nextSequence": "\(sequence.next)"])
    }

    // MARK: Records

    router.get("/v1/record") { request, _ in
      let key = try recordKeyQuery(request)
      guard let record = try await engine.read({ try $0.record(key) }) else { throw APIError.notFound(key.path) }
      return json(RecordView(key: key.path, record: record))
    }

    router.get("/v1/history") { request, _ in
      let key = try recordKeyQuery(request)
      let limit = try pageSize.read(request)
      let before = try cursor(request).map { bytes in
        guard let position = RecordHistory.Position(cursor: bytes) else {
          throw APIError.badRequest("request.invalid_field", "after: the next cursor of a previous page")
        }
        return position
      }
      let page = try await engine.read { try $0.history(of: key, limit: limit, before: before) }
      return json(
        HistoryView(
          key: key.path,
          entries: page.entries.map {
            HistoryView.Entry(
              height: $0.position.height, index: $0.position.index, transactionId: $0.transactionId.hex)
          },
          next: page.next.map { Hex.encode($0.cursor) }))
    }

    router.get("/v1/bureaus") { request, _ in
      try await listRecords(engine: engine, request: request, pageSize: pageSize, prefix: "bureau/")
    }
    router.get("/v1/bureaus/:bureau") { _, context in
      try await oneRecord(engine: engine, key: .bureau(try identifierParameter(context, "bureau")))
    }
    router.get("/v1/duties") { request, _ in
      let bureau = try identifierQuery(request, "bureau")
      return try await listRecords(
        engine: engine, request: request, pageSize: pageSize, prefix: "duty/" + (bureau.map { $0 + "/" } ?? ""))
    }
    router.get("/v1/duties/:bureau/:duty") { _, context in
      try await oneRecord(
        engine: engine, key: .duty(try identifierParameter(context, "bureau"), try identifierParameter(context, "duty"))
      )
    }
    router.get("/v1/directories") { request, _ in
      let bureau = try identifierQuery(request, "bureau")
      let text = try textQuery(request, "text")
      if let shareTypeName = request.uri.queryParameters.get("shareType") {
        guard let shareType = ShareType(name: shareTypeName) else {
          throw APIError.badRequest(
            "request.invalid_field", "shareType: one of \(ShareType.allCases.map(\.name).joined(separator: ", "))")
        }
        guard text == nil else {
          throw APIError.badRequest("request.invalid_field", "text: combine with bureau, not with shareType")
        }
        return try await indexedRecords(
          engine: engine, request: request, pageSize: pageSize,
          query: .directoriesByShareType(shareType, bureauId: bureau), filter: { _ in true })
      }
      let prefix = "directory/" + (bureau.map { $0 + "/" } ?? "")
      guard let text else {
        return try await listRecords(engine: engine, request: request, pageSize: pageSize, prefix: prefix)
      }
      return try await listRecords(
        engine: engine, request: request, pageSize: pageSize, prefix: prefix,
        filter: { record in
          guard case .directory(let directory) = record.value else { return false }
          return directory.title.contains(text) || directory.description.contains(text)
            || directory.items.contains { $0.name.contains(text) }
        })
    }
    router.get("/v1/directories/:bureau/:directory") { _, context in
      try await oneRecord(
        engine: engine,
        key: .directory(try identifierParameter(context, "bureau"), try identifierParameter(context, "directory")))
    }
    router.get("/v1/grants") { request, _ in
      let grantor = try identifierQuery(request, "grantor")
      let grantee = try identifierQuery(request, "grantee")
      let directory = try identifierQuery(request, "directory")
      let status = request.uri.queryParameters.get("status") ?? "active"
      guard status == "active" || status == "all" else {
        throw APIError.badRequest("request.invalid_field", "status: active or all")
      }
      let query: RecordQuery
      switch (grantor, grantee, directory) {
      case (let grantor?, nil, let directory?): query = .grantsOfDirectory(grantorId: grantor, directoryId: directory)
      case (let grantor?, nil, nil): query = .grantsByGrantor(grantor)
      case (nil, let grantee?, nil): query = .grantsByGrantee(grantee)
      default:
        throw APIError.badRequest(
          "request.invalid_field", "give grantor, grantor and directory, or grantee (one of these combinations)")
      }
      return try await indexedRecords(
        engine: engine, request: request, pageSize: pageSize, query: query,
        filter: { status == "all" || $0.status == .active })
    }
    router.get("/v1/grants/:grantor/:grant") { _, context in
      try await oneRecord(
        engine: engine,
        key: .grant(try identifierParameter(context, "grantor"), try identifierParameter(context, "grant")))
    }
    router.get("/v1/requests") { request, _ in
      let requester = try identifierQuery(request, "requester")
      let provider = try identifierQuery(request, "provider")
      return try await listRecords(
        engine: engine, request: request, pageSize: pageSize, prefix: "request/" + (requester.map { $0 + "/" } ?? ""),
        filter: { record in
          guard let provider else { return true }
          if case .request(let accessRequest, _, _) = record.value { return accessRequest.providerId == provider }
          return false
        })
    }
    router.get("/v1/attestations") { request, _ in
      let bureau = try identifierQuery(request, "bureau")
      let directory = try identifierQuery(request, "directory")
      let dataHash = try request.uri.queryParameters.get("dataHash").map {
        try hashParameter(String($0), field: "dataHash")
      }
      if directory != nil, bureau == nil {
        throw APIError.badRequest("request.invalid_field", "directory: give bureau too")
      }
      if let dataHash, bureau == nil {
        return try await indexedRecords(
          engine: engine, request: request, pageSize: pageSize, query: .attestationsOfData(dataHash),
          filter: { _ in true })
      }
      var prefix = "attestation/"
      if let bureau { prefix += bureau + "/" }
      if let directory { prefix += directory + "/" }
      return try await listRecords(
        engine: engine, request: request, pageSize: pageSize, prefix: prefix,
        filter: { record in
          guard let dataHash else { return true }
          if case .attestation(let attestation, _) = record.value { return attestation.dataHash == dataHash }
          return false
        })
    }
    router.get("/v1/shares") { request, _ in
      let provider = try identifierQuery(request, "provider")
      let consumer = try identifierQuery(request, "consumer")
      return try await listRecords(
        engine: engine, request: request, pageSize: pageSize, prefix: "share/",
        filter: { record in
          guard case .share(let share, _) = record.value else { return false }
          return (provider == nil || share.providerId == provider) && (consumer == nil || share.consumerId == consumer)
        })
    }

    // MARK: Proofs (docs/PROOFS.md §7)

    router.get("/v1/proofs/record") { request, _ in
      let key = try recordKeyQuery(request)
      let height = try heightQuery(request, "height")
      return try await proofResponse(request) {
        if height == nil, let bundle = try engine.recordBundleAtHead(key) { return bundle }
        return try await engine.read { try $0.recordBundle(key, height: height) }
      }
    }
    router.get("/v1/proofs/tx/:id") { request, context in
      let id = try hashParameter(context.parameters.get("id"), field: "id")
      return try await proofResponse(request) { try await engine.read { try $0.transactionBundle(id) } }
    }
    router.get("/v1/proofs/consistency") { request, _ in
      guard let from = try heightQuery(request, "from") else {
        throw APIError.badRequest("request.invalid_field", "from: a block height is required")
      }
      let to = try heightQuery(request, "to")
      return try await proofResponse(request) { try await engine.read { try $0.consistencyBundle(from: from, to: to) } }
    }
    router.get("/v1/provenance") { request, _ in
      let dataHash = try hashParameter(request.uri.queryParameters.get("dataHash"), field: "dataHash")
      guard let consumer = try identifierQuery(request, "consumer") else {
        throw APIError.badRequest("request.invalid_field", "consumer: the consuming bureau's id is required")
      }
      let height = try heightQuery(request, "height")
      return try await proofResponse(request) {
        try await engine.read { try $0.provenanceBundle(dataHash: dataHash, consumerId: consumer, height: height) }
      }
    }

    // MARK: Blocks

    router.get("/v1/blocks/:height") { request, context in
      let height = try await heightParameter(context, engine: engine)
      switch request.uri.queryParameters.get("format") ?? "json" {
      case "json": break
      case "binary":
        // Canonical Block bytes (docs/FORMAT.md §5), for clients that decode blocks themselves.
        guard let bytes = try await engine.read({ try $0.blockBytes(at: height) }) else {
          throw APIError.notFound("block \(height)")
        }
        return Response(
          status: .ok, headers: [.contentType: "application/octet-stream"],
          body: ResponseBody(byteBuffer: ByteBuffer(bytes: bytes)))
      default: throw APIError.badRequest("request.invalid_field", "format: json or binary")
      }
      guard
        let (block, certificate) = try await engine.read({ store -> (Block, CommitCertificate?)? in
          guard let block = try store.block(at: height) else { return nil }
          return (block, try store.certificate(at: height))
        })
      else { throw APIError.notFound("block \(height)") }
      return json(BlockView(hash: block.header.hash.hex, block: block, certificate: certificate))
    }
    router.get("/v1/headers") { request, _ in
      let limit = try pageSize.read(request)
      let head = await engine.status().height
      let from = try integerQuery(request, "from", range: 0...Int.max).map(UInt64.init) ?? head
      let headers = try await engine.read { store -> [HeaderView] in
        var headers: [HeaderView] = []
        var height = min(from, head)
        while headers.count < limit, let block = try store.block(at: height) {
          headers.append(HeaderView(hash: block.header.hash.hex, header: block.header))
          if height == 0 { break }
          height -= 1
        }
        return headers
      }
      return json(["headers": headers])
    }
    router.get("/v1/headers/:height") { _, context in
      let height = try await heightParameter(context, engine: engine)
      guard let block = try await engine.read({ try $0.block(at: height) }) else {
        throw APIError.notFound("block \(height)")
      }
      return json(HeaderView(hash: block.header.hash.hex, header: block.header))
    }
    return router
  }

  static let mempoolFull = APIError(
    .tooManyRequests, "mempool.full", "the mempool is full; retry later", retryAfterSeconds: 1)

  // MARK: Proof responses

  /// A bundle as JSON, or its canonical bytes with `format=binary`.
  static func proofResponse(_ request: Request, _ bundle: () async throws -> ProofBundle) async throws -> Response {
    let format = request.uri.queryParameters.get("format") ?? "json"
    guard format == "json" || format == "binary" else {
      throw APIError.badRequest("request.invalid_field", "format: json or binary")
    }
    let built: ProofBundle
    do {
      built = try await bundle()
    } catch let error as LedgerStore.ProofError {
      switch error.code {
      case "not_found", "proof.height_unknown": throw APIError(.notFound, error.code, error.message)
      case "proof.genesis_anchor": throw APIError(.conflict, error.code, error.message)
      default: throw APIError.badRequest(error.code, error.message)
      }
    }
    if format == "binary" {
      return Response(
        status: .ok, headers: [.contentType: "application/octet-stream"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: built.canonicalBytes)))
    }
    return json(built)
  }

  static func heightQuery(_ request: Request, _ name: String) throws -> UInt64? {
    guard let text = request.uri.queryParameters.get(name) else { return nil }
    guard let height = UInt64(text) else {
      throw APIError.badRequest("request.invalid_field", "\(name): a block height")
    }
    return height
  }

  // MARK: Input

  static func readBody(_ request: Request, limit: Int) async throws -> [UInt8] {
    let buffer: ByteBuffer
    do {
      buffer = try await request.body.collect(upTo: limit)
    } catch is NIOTooManyBytesError {
      throw APIError(.contentTooLarge, "request.too_large", "the body exceeds \(limit) bytes")
    }
    return Array(buffer.readableBytesView)
  }

  /// Whether a submission carries canonical bytes (`application/octet-stream`)
  /// rather than JSON with hex: bulk clients skip the JSON and hex on both sides.
  static func carriesCanonicalBytes(_ request: Request) -> Bool {
    guard let type = request.headers[.contentType] else { return false }
    return type.lowercased().hasPrefix("application/octet-stream")
  }

  /// The transaction of a `POST /v1/transactions` body and its size in bytes:
  /// JSON `{"transaction": hex}`, or the canonical bytes themselves.
  static func submittedTransaction(_ body: [UInt8], binary: Bool) throws -> (SignedTransaction, Int) {
    if binary { return try decodeTransaction(body, field: "transaction") }
    let object = try parseJSONObject(body, keys: ["transaction"])
    guard let hex = object["transaction"] as? String else {
      throw APIError.badRequest("request.invalid_field", "transaction: a hex string is required")
    }
    return try decodeTransaction(hex, field: "transaction")
  }

  /// Each transaction of a `POST /v1/transactions/batch` body, or why that one
  /// was refused. JSON `{"transactions": [hex, …]}`, or canonical bytes laid
  /// out as a block's transactions are (docs/FORMAT.md §5):
  /// `list<bytes>(1..10,000)`, each element one canonical SignedTransaction.
  /// A body whose list cannot be read refuses the whole request; an element
  /// that is read but does not decode refuses only itself.
  static func submittedBatch(_ body: [UInt8], binary: Bool) throws -> [Result<(SignedTransaction, Int), APIError>] {
    let countRequired = "transactions: a list of 1 to \(batchTransactionsMax) transactions is required"
    guard binary else {
      let object = try parseJSONObject(body, keys: ["transactions"])
      guard let hexes = object["transactions"] as? [Any], (1...batchTransactionsMax).contains(hexes.count) else {
        throw APIError.badRequest("request.invalid_field", countRequired)
      }
      return hexes.enumerated().map { index, element in
        Result { () throws(APIError) in
          guard let hex = element as? String else {
            throw APIError.badRequest("request.invalid_field", "transactions[\(index)]: a hex string is required")
          }
          return try decodeTransaction(hex, field: "transactions[\(index)]")
        }
      }
    }
    var reader = CanonicalReader(body)
    let count: Int
    do {
      count = try reader.read(varint: "transactions", limit: Int(UInt32.max))
    } catch {
      throw APIError.badRequest(error.code, "\(error)")
    }
    guard (1...batchTransactionsMax).contains(count) else {
      throw APIError.badRequest("request.invalid_field", countRequired)
    }
    var transactions: [Result<(SignedTransaction, Int), APIError>] = []
    transactions.reserveCapacity(count)
    do throws(FormatError) {
      for index in 0..<count {
        // Any length the body holds is read, so an over-long element refuses itself alone.
        let range = try reader.read(byteRange: "transactions[\(index)]", limit: Int(UInt32.max))
        transactions.append(
          Result { () throws(APIError) in try decodeTransaction(Array(body[range]), field: "transactions[\(index)]") })
      }
      try reader.finish()
    } catch {
      throw APIError.badRequest(error.code, error.field.isEmpty ? "transactions: \(error)" : "\(error)")
    }
    return transactions
  }

  static func parseJSONObject(_ bytes: [UInt8], keys: Set<String>) throws -> [String: Any] {
    guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any]
    else { throw APIError.badRequest("request.malformed_json", "the body is not a JSON object") }
    if let unknown = Set(object.keys).subtracting(keys).sorted().first {
      throw APIError.badRequest("request.unknown_field", "\(unknown): not a field of this request")
    }
    return object
  }

  /// The whole input side of `POST /v1/transactions` without the network:
  /// the decoded transaction, or the error code the API would answer with.
  /// (What `ledger-cli dev fuzz` exercises.)
  public static func parseSubmission(_ body: [UInt8]) -> Result<SignedTransaction, SubmissionRefused> {
    do {
      return .success(try submittedTransaction(body, binary: false).0)
    } catch let error as APIError {
      return .failure(SubmissionRefused(code: error.code, status: Int(error.status.code)))
    } catch {
      return .failure(SubmissionRefused(code: "internal", status: 500))
    }
  }

  /// The input side of `POST /v1/transactions/batch` in canonical bytes:
  /// each element's transaction or refusal, or the whole body's refusal.
  public static func parseBinaryBatch(_ body: [UInt8]) -> Result<
    [Result<SignedTransaction, SubmissionRefused>], SubmissionRefused
  > {
    do {
      return .success(
        try submittedBatch(body, binary: true).map { element in
          element.map(\.0).mapError { SubmissionRefused(code: $0.code, status: Int($0.status.code)) }
        })
    } catch let error as APIError {
      return .failure(SubmissionRefused(code: error.code, status: Int(error.status.code)))
    } catch {
      return .failure(SubmissionRefused(code: "internal", status: 500))
    }
  }

  public struct SubmissionRefused: Error, Sendable {
    public let code: String
    public let status: Int
  }

  static func decodeTransaction(_ hex: String, field: String) throws(APIError) -> (SignedTransaction, Int) {
    guard hex.utf8.count <= 2 * Limits.transactionBytesMax else {
      throw APIError.badRequest("format.length_over_limit", "\(field): longer than \(Limits.transactionBytesMax) bytes")
    }
    guard let bytes = Hex.decode(hex) else {
      throw APIError.badRequest("request.bad_hex", "\(field): not an even number of hex digits")
    }
    return try decodeTransaction(bytes, field: field)
  }

  static func decodeTransaction(_ bytes: [UInt8], field: String) throws(APIError) -> (SignedTransaction, Int) {
    guard bytes.count <= Limits.transactionBytesMax else {
      throw APIError.badRequest("format.length_over_limit", "\(field): longer than \(Limits.transactionBytesMax) bytes")
    }
    do {
      return (try SignedTransaction(canonicalBytes: bytes), bytes.count)
    } catch {
      throw APIError.badRequest(error.code, "\(field): \(error)")
    }
  }

  static func apiError(for rejection: MempoolRejection) -> APIError {
    switch rejection.code {
    case "mempool.full": APIError(.tooManyRequests, rejection.code, rejection.message, retryAfterSeconds: 1)
    case "node.halted": APIError(.serviceUnavailable, rejection.code, rejection.message, retryAfterSeconds: 30)
    case "mempool.duplicate", "tx.replayed", "tx.sequence_in_use", "tx.already_committed":
      APIError(.conflict, rejection.code, rejection.message)
    case "tx.signer_not_operator", "governance.signer_not_governance", "governance.below_threshold",
      "tx.signer_did_not_sign":
      APIError(.forbidden, rejection.code, rejection.message)
    default: APIError(.unprocessableContent, rejection.code, rejection.message)
    }
  }

  static func hashParameter(_ text: String?, field: String) throws -> Hash256 {
    guard let text, let hash = Hash256(hex: text) else {
      throw APIError.badRequest("request.invalid_field", "\(field): 64 hex digits are required")
    }
    return hash
  }

  static func integerQuery(_ request: Request, _ name: String, range: ClosedRange<Int>) throws -> Int? {
    guard let text = request.uri.queryParameters.get(name) else { return nil }
    guard let value = Int(text), range.contains(value) else {
      throw APIError.badRequest(
        "request.invalid_field", "\(name): an integer from \(range.lowerBound) to \(range.upperBound)")
    }
    return value
  }

  static func identifierQuery(_ request: Request, _ name: String) throws -> String? {
    guard let text = request.uri.queryParameters.get(name) else { return nil }
    guard Identifier.isValid(text) else {
      throw APIError.badRequest("request.invalid_field", "\(name): \"\(text)\" is not an identifier")
    }
    return text
  }

  static func textQuery(_ request: Request, _ name: String) throws -> String? {
    guard let text = request.uri.queryParameters.get(name) else { return nil }
    guard (1...Limits.titleBytesMax).contains(text.utf8.count) else {
      throw APIError.badRequest("request.invalid_field", "\(name): 1 to \(Limits.titleBytesMax) bytes")
    }
    return text
  }

  static func identifierParameter(_ context: BasicRequestContext, _ name: String) throws -> String {
    guard let text = context.parameters.get(name), Identifier.isValid(text) else {
      throw APIError.badRequest("request.invalid_field", "\(name): not an identifier")
    }
    return text
  }

  static func heightParameter(_ context: BasicRequestContext, engine: NodeEngine) async throws -> UInt64 {
    let text = context.parameters.get("height") ?? ""
    if text == "latest" { return await engine.status().height }
    guard let height = UInt64(text) else {
      throw APIError.badRequest("request.invalid_field", "height: a block height or \"latest\"")
    }
    return height
  }

  static func recordKeyQuery(_ request: Request) throws -> RecordKey {
    guard let path = request.uri.queryParameters.get("key"), !path.isEmpty,
      path.utf8.count <= 512, path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy({ !$0.isEmpty })
    else {
      throw APIError.badRequest("request.invalid_field", "key: a record key such as bureau/BJ-GAJ is required")
    }
    return RecordKey(path: path)
  }

  struct PageSize {
    let defaultSize: Int
    let maximum: Int

    func read(_ request: Request) throws -> Int {
      try HTTPAPI.integerQuery(request, "limit", range: 1...maximum) ?? defaultSize
    }
  }

  /// `after` cursors are opaque hex of where the previous page stopped.
  static func cursor(_ request: Request) throws -> [UInt8]? {
    guard let text = request.uri.queryParameters.get("after") else { return nil }
    guard text.utf8.count <= 2_048, let bytes = Hex.decode(text) else {
      throw APIError.badRequest("request.invalid_field", "after: the next cursor of a previous page")
    }
    return bytes
  }

  /// Records under a key prefix, in key order; filtered lists scan at most
  /// `scanMax` records per page and say where to continue.
  static let scanMax = 10_000

  static func listRecords(
    engine: NodeEngine, request: Request, pageSize: PageSize, prefix: String,
    filter: @escaping @Sendable (StateRecord) -> Bool = { _ in true }
  ) async throws -> Response {
    let limit = try pageSize.read(request)
    let after = try cursor(request).map { RecordKey(path: String(decoding: $0, as: UTF8.self)) }
    let page = try await engine.read { store -> PageView in
      var records: [RecordView] = []
      var scanned = 0
      var last = after
      while records.count < limit, scanned < scanMax {
        let requested = min(1_000, scanMax - scanned)
        let batch = try store.records(pathPrefix: prefix, after: last, limit: requested)
        var consumed = 0
        for (key, record) in batch {
          scanned += 1
          consumed += 1
          last = key
          if filter(record) {
            records.append(RecordView(key: key.path, record: record))
            if records.count == limit { break }
          }
        }
        // The prefix is exhausted only if the store had fewer than asked and all of them were looked at.
        if batch.count < requested, consumed == batch.count { return PageView(records: records, next: nil) }
      }
      return PageView(records: records, next: last.map { Hex.encode(Array($0.path.utf8)) })
    }
    return json(page)
  }

  static func indexedRecords(
    engine: NodeEngine, request: Request, pageSize: PageSize, query: RecordQuery,
    filter: @escaping @Sendable (StateRecord) -> Bool
  ) async throws -> Response {
    let limit = try pageSize.read(request)
    let after = try cursor(request)
    let page = try await engine.read { store -> PageView in
      var records: [RecordView] = []
      var position = after
      var scanned = 0
      while records.count < limit, scanned < scanMax {
        let batch = try store.query(query, after: position, limit: 1_000)
        var consumed = 0
        for (entry, entryPosition) in zip(batch.records, batch.positions) {
          scanned += 1
          consumed += 1
          position = entryPosition
          if filter(entry.record) {
            records.append(RecordView(key: entry.key.path, record: entry.record))
            if records.count == limit { break }
          }
        }
        if batch.next == nil, consumed == batch.records.count { return PageView(records: records, next: nil) }
      }
      return PageView(records: records, next: position.map(Hex.encode))
    }
    return json(page)
  }

  static func oneRecord(engine: NodeEngine, key: RecordKey) async throws -> Response {
    guard let record = try await engine.read({ try $0.record(key) }) else { throw APIError.notFound(key.path) }
    return json(RecordView(key: key.path, record: record))
  }
}

// MARK: Views

struct RecordView: Encodable, Sendable {
  let key: String
  let record: StateRecord
}

struct PageView: Encodable, Sendable {
  let records: [RecordView]
  /// Pass as `after` for the next page; absent on the last page.
  let next: String?
}

struct HistoryView: Encodable, Sendable {
  struct Entry: Encodable, Sendable {
    let height: UInt64
    let index: UInt32
    let transactionId: String
  }
  let key: String
  let entries: [Entry]
  /// Absent on the last page.
  let next: String?
}

struct ResultView: Encodable, Sendable {
  let code: String
  let message: String
}

struct TransactionView: Encodable, Sendable {
  let id: String
  let status: String
  var height: UInt64?
  var index: UInt32?
  var result: ResultView?
  var transaction: SignedTransaction?
}

struct BatchOutcome: Encodable, Sendable {
  let index: Int
  var id: String?
  var error: ErrorBody?

  struct ErrorBody: Encodable, Sendable {
    let code: String
    let message: String
  }

  init(index: Int, id: String) {
    self.index = index
    self.id = id
  }

  init(index: Int, error: APIError) {
    self.index = index
    self.error = ErrorBody(code: error.code, message: error.message)
  }
}

struct BatchResponse: Encodable, Sendable {
  let accepted: Int
  let results: [BatchOutcome]

  /// The bytes `HTTPAPI.encoder` writes for this response (keys sorted,
  /// absent fields left out, slashes bare), written directly: the answer to
  /// every batch a load submits, where JSONEncoder cost 0.7–0.8 % of a
  /// node's CPU. `BatchResponseTests` holds the two to the same bytes.
  var jsonBytes: [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(32 + results.count * 96)
    out += #"{"accepted":\#(accepted),"results":["#.utf8
    for (position, outcome) in results.enumerated() {
      if position > 0 { out.append(UInt8(ascii: ",")) }
      out.append(UInt8(ascii: "{"))
      if let error = outcome.error {
        out += #""error":{"code":"#.utf8
        JSONText.append(error.code, to: &out)
        out += #","message":"#.utf8
        JSONText.append(error.message, to: &out)
        out += "},".utf8
      }
      if let id = outcome.id {
        out += #""id":"#.utf8
        JSONText.append(id, to: &out)
        out.append(UInt8(ascii: ","))
      }
      out += #""index":\#(outcome.index)}"#.utf8
    }
    out += "]}".utf8
    return out
  }
}

/// JSON string literals as `HTTPAPI.encoder` writes them: `"` and `\` behind
/// a backslash, control characters as `\b \f \n \r \t` or `\u00XX`, everything
/// else (`/` and all of Unicode) as its UTF-8 bytes.
enum JSONText {
  static func append(_ text: String, to out: inout [UInt8]) {
    out.append(UInt8(ascii: "\""))
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), byte]
      case 0x08: out += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
      case 0x0C: out += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
      case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
      case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
      case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
      case ..<0x20:
        out += #"\u00"#.utf8
        out += Hex.encode(CollectionOfOne(byte)).utf8
      default: out.append(byte)
      }
    }
    out.append(UInt8(ascii: "\""))
  }
}

struct BlockView: Encodable, Sendable {
  let hash: String
  let block: Block
  let certificate: CommitCertificate?
}

struct HeaderView: Encodable, Sendable {
  let hash: String
  let header: BlockHeader
}

/// Counts responses by status for `/metrics`, and turns any unexpected error
/// into a JSON 500 rather than a bare connection reset.
struct CountingMiddleware<Context: RequestContext>: RouterMiddleware {
  let metrics: NodeMetrics

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
    -> Response
  {
    do {
      let response = try await next(request, context)
      metrics.httpRequest(status: response.status.code)
      return response
    } catch let error as APIError {
      metrics.httpRequest(status: error.status.code)
      throw error
    } catch let error as any HTTPResponseError {
      // The framework's own errors (no such route, wrong method) get the same JSON shape.
      metrics.httpRequest(status: error.status.code)
      let code = error.status == .notFound ? "not_found" : "request.invalid"
      throw APIError(error.status, code, "\(request.method) \(request.uri.path): \(error.status.reasonPhrase)")
    } catch {
      metrics.httpRequest(status: 500)
      throw APIError(.internalServerError, "internal", "\(error)")
    }
  }
}

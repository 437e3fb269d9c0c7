/// Sharing between bureaus: access requests, grants and revocations, data
/// attestations and share records (共享留痕).
///
/// `不予共享` directories are never granted. `有条件共享` data moves only under
/// a grant that is active at the block's time. `无条件共享` data may go to any
/// registered bureau without a grant, and is still recorded.
extension TransactionExecution {
  func requestAccess(_ request: AccessRequest) throws {
    try requireOperator(of: request.requesterId)
    guard request.requesterId != request.providerId else {
      throw Rejection("request.self", "a bureau cannot request access to its own directory")
    }
    guard try state.read(.request(request.requesterId, request.requestId)) == nil else {
      throw Rejection("request.already_exists", "request \"\(request.requestId)\" of \"\(request.requesterId)\" exists")
    }
    _ = try activeBureau(request.providerId, code: "request.provider_not_active", role: "providing")
    try checkScope(request.scope, providerId: request.providerId, code: "request")
    state.write(
      .request(request.requesterId, request.requestId),
      .created(.request(request, approval: nil, denial: nil), status: .pending, at: height))
  }

  func approveRequest(_ approval: RequestApproval) throws {
    try requireOperator(of: approval.providerId)
    let (record, request) = try pendingRequest(
      approval.requesterId, approval.requestId, providerId: approval.providerId)
    let grant = Grant(
      grantorId: approval.providerId, grantId: approval.grantId, granteeId: request.requesterId, scope: request.scope)
    try createGrant(grant, requestId: request.requestId)
    state.write(
      .request(request.requesterId, request.requestId),
      record.changed(value: .request(request, approval: approval, denial: nil), status: .approved, at: height))
  }

  func denyRequest(_ denial: RequestDenial) throws {
    try requireOperator(of: denial.providerId)
    let (record, request) = try pendingRequest(denial.requesterId, denial.requestId, providerId: denial.providerId)
    state.write(
      .request(request.requesterId, request.requestId),
      record.changed(value: .request(request, approval: nil, denial: denial), status: .denied, at: height))
  }

  func grantAccess(_ grant: Grant) throws {
    try requireOperator(of: grant.grantorId)
    try createGrant(grant, requestId: nil)
  }

  /// Revocation takes effect from the block that holds it.
  func revokeGrant(_ retirement: Retirement) throws {
    try requireOperator(of: retirement.bureauId)
    let key = RecordKey.grant(retirement.bureauId, retirement.recordId)
    guard let record = try state.read(key) else {
      throw Rejection(
        "grant.not_found", "grant \"\(retirement.recordId)\" of \"\(retirement.bureauId)\" does not exist")
    }
    guard record.status == .active else {
      throw Rejection("grant.already_revoked", "grant \"\(retirement.recordId)\" was already revoked")
    }
    state.write(key, record.changed(status: .revoked, at: height))
  }

  func attestData(_ attestation: Attestation) throws {
    try requireOperator(of: attestation.bureauId)
    _ = try activeDirectory(attestation.bureauId, attestation.directoryId, code: "attestation")
    if attestation.kind == .batchRoot && attestation.recordCount == 0 {
      throw Rejection("attestation.empty_batch", "a batch root attests at least one record")
    }
    let key = RecordKey.attestation(attestation.bureauId, attestation.directoryId, attestation.dataHash)
    guard try state.read(key) == nil else {
      throw Rejection(
        "attestation.already_recorded",
        "data \(attestation.dataHash.hex) is already attested under directory \"\(attestation.directoryId)\"")
    }
    state.write(key, .created(.attestation(attestation, transactionId: transaction.id), at: height))
  }

  /// The provider records that the consumer received attested data.
  func recordShare(_ share: ShareRecord) throws {
    try requireOperator(of: share.providerId)
    guard share.consumerId != share.providerId else {
      throw Rejection("share.self", "provider and consumer are the same bureau")
    }
    _ = try activeBureau(share.consumerId, code: "share.consumer_not_active", role: "consuming")
    let (_, directory) = try activeDirectory(share.providerId, share.directoryId, code: "share")
    guard try state.read(.attestation(share.providerId, share.directoryId, share.dataHash)) != nil else {
      throw Rejection(
        "share.data_not_attested",
        "data \(share.dataHash.hex) is not attested under directory \"\(share.directoryId)\" of \"\(share.providerId)\""
      )
    }
    switch directory.shareType {
    case .notShared:
      throw Rejection(
        "share.directory_not_shareable", "directory \"\(share.directoryId)\" is 不予共享 (not shared)")
    case .conditional:
      guard let grantId = share.grantId else {
        throw Rejection(
          "share.grant_required", "directory \"\(share.directoryId)\" is 有条件共享 (conditional): name the grant")
      }
      try checkGrantCovers(share, grantId: grantId)
    case .unconditional:
      if let grantId = share.grantId { try checkGrantCovers(share, grantId: grantId) }
    }
    state.write(.share(transaction.id), .created(.share(share, transactionId: transaction.id), at: height))
  }

  // MARK: Helpers

  private func createGrant(_ grant: Grant, requestId: String?) throws {
    guard grant.granteeId != grant.grantorId else {
      throw Rejection("grant.self", "a bureau cannot grant access to itself")
    }
    let key = RecordKey.grant(grant.grantorId, grant.grantId)
    guard try state.read(key) == nil else {
      throw Rejection("grant.already_exists", "grant \"\(grant.grantId)\" of \"\(grant.grantorId)\" exists")
    }
    _ = try activeBureau(grant.granteeId, code: "grant.grantee_not_active", role: "grantee")
    try checkScope(grant.scope, providerId: grant.grantorId, code: "grant")
    guard grant.scope.validUntilMs > timeMs else {
      throw Rejection(
        "grant.window_ended", "validUntilMs \(grant.scope.validUntilMs) is not after the block time \(timeMs)")
    }
    state.write(key, .created(.grant(grant, requestId: requestId), at: height))
  }

  /// The scope names an active, shareable directory of the provider, only
  /// items it has, and a non-empty window.
  private func checkScope(_ scope: AccessScope, providerId: String, code: String) throws {
    let (_, directory) = try activeDirectory(providerId, scope.directoryId, code: code)
    guard directory.shareType != .notShared else {
      throw Rejection(
        "\(code).directory_not_shareable",
        "directory \"\(scope.directoryId)\" is 不予共享 (not shared) and cannot be granted")
    }
    let itemNames = Set(directory.items.map(\.name))
    for item in scope.items where !itemNames.contains(item) {
      throw Rejection(
        "\(code).item_not_in_directory", "data item \"\(item)\" is not in directory \"\(scope.directoryId)\"")
    }
    guard scope.validUntilMs > scope.validFromMs else {
      throw Rejection(
        "\(code).invalid_window", "validUntilMs \(scope.validUntilMs) must be after validFromMs \(scope.validFromMs)")
    }
    if scope.purpose.isEmpty { throw Rejection("\(code).missing_purpose", "state the purpose (用途) of the access") }
  }

  private func pendingRequest(_ requesterId: String, _ requestId: String, providerId: String) throws -> (
    StateRecord, AccessRequest
  ) {
    guard let record = try state.read(.request(requesterId, requestId)),
      case .request(let request, _, _) = record.value, request.providerId == providerId
    else {
      throw Rejection(
        "request.not_found", "no request \"\(requestId)\" from \"\(requesterId)\" to \"\(providerId)\"")
    }
    guard record.status == .pending else {
      throw Rejection("request.not_pending", "request \"\(requestId)\" was already \(record.status.name)")
    }
    return (record, request)
  }

  /// The grant exists, is the provider's, names this consumer and directory,
  /// is not revoked, and the block time is inside its window.
  private func checkGrantCovers(_ share: ShareRecord, grantId: String) throws {
    guard let record = try state.read(.grant(share.providerId, grantId)), case .grant(let grant, _) = record.value
    else {
      throw Rejection("share.grant_not_found", "grant \"\(grantId)\" of \"\(share.providerId)\" does not exist")
    }
    guard grant.granteeId == share.consumerId, grant.scope.directoryId == share.directoryId else {
      throw Rejection(
        "share.grant_does_not_cover",
        "grant \"\(grantId)\" is for \"\(grant.granteeId)\" on directory \"\(grant.scope.directoryId)\"")
    }
    guard record.status == .active else {
      throw Rejection("share.grant_revoked", "grant \"\(grantId)\" was revoked at height \(record.updatedAtHeight)")
    }
    guard grant.scope.validFromMs <= timeMs, timeMs < grant.scope.validUntilMs else {
      throw Rejection(
        "share.grant_outside_window",
        "block time \(timeMs) is outside grant \"\(grantId)\"'s window [\(grant.scope.validFromMs), \(grant.scope.validUntilMs))"
      )
    }
  }
}

/// Governance: registering, suspending, reinstating and removing bureaus,
/// rotating their keys, and scheduling validator-set changes. All need the
/// governance threshold of signatures.
extension TransactionExecution {
  func registerBureau(_ registration: BureauRegistration) throws {
    try requireGovernance()
    guard try state.read(.bureau(registration.bureauId)) == nil else {
      // Ids are never reused, not even after removal, so history stays unambiguous.
      throw Rejection("bureau.already_registered", "bureau \"\(registration.bureauId)\" is already registered")
    }
    state.write(.bureau(registration.bureauId), .created(.bureau(registration), at: height))
  }

  func suspendBureau(_ change: BureauStatusChange) throws {
    try requireGovernance()
    let record = try existingBureau(change.bureauId)
    guard record.status == .active else {
      throw Rejection("bureau.not_active", "bureau \"\(change.bureauId)\" is \(record.status.name), not active")
    }
    state.write(.bureau(change.bureauId), record.changed(status: .suspended, at: height))
  }

  func reinstateBureau(_ change: BureauStatusChange) throws {
    try requireGovernance()
    let record = try existingBureau(change.bureauId)
    guard record.status == .suspended else {
      throw Rejection("bureau.not_suspended", "bureau \"\(change.bureauId)\" is \(record.status.name), not suspended")
    }
    state.write(.bureau(change.bureauId), record.changed(status: .active, at: height))
  }

  func removeBureau(_ change: BureauStatusChange) throws {
    try requireGovernance()
    let record = try existingBureau(change.bureauId)
    guard record.status != .removed else {
      throw Rejection("bureau.already_removed", "bureau \"\(change.bureauId)\" was already removed")
    }
    let (projected, _) = try projectedValidators()
    guard !projected.validators.contains(where: { $0.bureauId == change.bureauId }) else {
      throw Rejection(
        "bureau.runs_validator",
        "bureau \"\(change.bureauId)\" runs a validator; remove it from the validator set first")
    }
    state.write(.bureau(change.bureauId), record.changed(status: .removed, at: height))
  }

  func rotateBureauKeys(_ rotation: BureauKeyRotation) throws {
    try requireGovernance()
    let record = try existingBureau(rotation.bureauId)
    guard record.status != .removed, case .bureau(var registration) = record.value else {
      throw Rejection("bureau.already_removed", "bureau \"\(rotation.bureauId)\" was removed")
    }
    let (projected, _) = try projectedValidators()
    let keptNodeKeys = Set(rotation.nodeKeys)
    if let orphan = projected.validators.first(where: {
      $0.bureauId == rotation.bureauId && !keptNodeKeys.contains($0.nodeKey)
    }) {
      throw Rejection(
        "bureau.validator_key_in_use",
        "node key \(orphan.nodeKey.rawValue.hex) votes as a validator; remove it from the validator set first")
    }
    registration.operatorKeys = rotation.operatorKeys
    registration.nodeKeys = rotation.nodeKeys
    state.write(.bureau(rotation.bureauId), record.changed(value: .bureau(registration), at: height))
  }

  func changeValidators(_ change: ValidatorSetChange) throws {
    try requireGovernance()
    guard !change.add.isEmpty || !change.remove.isEmpty else {
      throw Rejection("validators.empty_change", "the change adds and removes nothing")
    }
    guard change.effectiveHeight > height else {
      throw Rejection(
        "validators.effective_height_not_future",
        "effectiveHeight \(change.effectiveHeight) must be above the height of this block, \(height)")
    }
    let (projected, record) = try projectedValidators()
    guard case .validators(let current, var pending) = record.value else { preconditionFailure("validators record") }
    guard pending.count < Limits.pendingValidatorChangeCountMax else {
      throw Rejection(
        "validators.too_many_pending",
        "\(pending.count) changes are already scheduled; at most \(Limits.pendingValidatorChangeCountMax)")
    }
    if let last = pending.last, change.effectiveHeight < last.effectiveHeight {
      throw Rejection(
        "validators.effective_height_not_future",
        "effectiveHeight \(change.effectiveHeight) is before an already scheduled change at \(last.effectiveHeight)")
    }
    for key in change.remove where !projected.contains(key) {
      throw Rejection("validators.not_member", "node key \(key.rawValue.hex) is not a validator")
    }
    for validator in change.add {
      if projected.contains(validator.nodeKey) && !change.remove.contains(validator.nodeKey) {
        throw Rejection(
          "validators.already_member", "node key \(validator.nodeKey.rawValue.hex) is already a validator")
      }
      let bureau = try activeBureau(validator.bureauId, code: "validators.unknown_bureau", role: "validator's")
      guard case .bureau(let registration) = bureau.value, registration.nodeKeys.contains(validator.nodeKey) else {
        throw Rejection(
          "validators.node_key_not_registered",
          "node key \(validator.nodeKey.rawValue.hex) is not a node key of bureau \"\(validator.bureauId)\"")
      }
    }
    let result = projected.applying(change)
    guard result.count >= 1, result.count <= Limits.validatorCountMax else {
      throw Rejection(
        "validators.set_size", "the change leaves \(result.count) validators; 1 to \(Limits.validatorCountMax) allowed")
    }
    pending.append(change)
    state.write(.validators, record.changed(value: .validators(current, pending: pending), at: height))
  }

  // MARK: Helpers

  func existingBureau(_ bureauId: String) throws -> StateRecord {
    guard let record = try state.read(.bureau(bureauId)) else {
      throw Rejection("bureau.not_found", "bureau \"\(bureauId)\" is not registered")
    }
    return record
  }

  /// The set that will be in force once every scheduled change has taken effect.
  func projectedValidators() throws -> (ValidatorSet, StateRecord) {
    guard let record = try state.read(.validators), case .validators(let current, let pending) = record.value else {
      preconditionFailure("state without a validators record: genesis always writes one")
    }
    return (pending.reduce(current) { $0.applying($1) }, record)
  }
}

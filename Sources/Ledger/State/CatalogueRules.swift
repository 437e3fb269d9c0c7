/// A bureau's own catalogue: duties (职责) and the directories (数据目录) they
/// justify. Every active directory cites only active duties of its own bureau
/// (职责目录化), so a duty that an active directory cites cannot retire.
extension TransactionExecution {
  func declareDuty(_ duty: Duty) throws {
    try requireOperator(of: duty.bureauId)
    guard try state.read(.duty(duty.bureauId, duty.dutyId)) == nil else {
      throw Rejection("duty.already_declared", "duty \"\(duty.dutyId)\" of \"\(duty.bureauId)\" already exists")
    }
    state.write(.duty(duty.bureauId, duty.dutyId), .created(.duty(duty, citingDirectoryCount: 0), at: height))
  }

  func amendDuty(_ duty: Duty) throws {
    try requireOperator(of: duty.bureauId)
    let (record, _, citingCount) = try activeDuty(duty.bureauId, duty.dutyId)
    state.write(
      .duty(duty.bureauId, duty.dutyId),
      record.changed(value: .duty(duty, citingDirectoryCount: citingCount), at: height))
  }

  func retireDuty(_ retirement: Retirement) throws {
    try requireOperator(of: retirement.bureauId)
    let (record, _, citingCount) = try activeDuty(retirement.bureauId, retirement.recordId)
    guard citingCount == 0 else {
      throw Rejection(
        "duty.still_cited",
        "duty \"\(retirement.recordId)\" is cited by \(citingCount) active directories; revise or retire them first")
    }
    state.write(.duty(retirement.bureauId, retirement.recordId), record.changed(status: .retired, at: height))
  }

  func publishDirectory(_ directory: Directory) throws {
    try requireOperator(of: directory.bureauId)
    let key = RecordKey.directory(directory.bureauId, directory.directoryId)
    guard try state.read(key) == nil else {
      throw Rejection(
        "directory.already_published",
        "directory \"\(directory.directoryId)\" of \"\(directory.bureauId)\" exists; revise it to publish a new version"
      )
    }
    try checkContent(of: directory)
    try adjustCitations(bureauId: directory.bureauId, removing: [], adding: directory.dutyIds)
    state.write(key, .created(.directory(directory), at: height))
  }

  func reviseDirectory(_ directory: Directory) throws {
    try requireOperator(of: directory.bureauId)
    let (record, previous) = try activeDirectory(directory.bureauId, directory.directoryId, code: "directory")
    try checkContent(of: directory)
    try adjustCitations(bureauId: directory.bureauId, removing: previous.dutyIds, adding: directory.dutyIds)
    state.write(
      .directory(directory.bureauId, directory.directoryId), record.changed(value: .directory(directory), at: height))
  }

  func retireDirectory(_ retirement: Retirement) throws {
    try requireOperator(of: retirement.bureauId)
    let (record, previous) = try activeDirectory(retirement.bureauId, retirement.recordId, code: "directory")
    try adjustCitations(bureauId: retirement.bureauId, removing: previous.dutyIds, adding: [])
    state.write(.directory(retirement.bureauId, retirement.recordId), record.changed(status: .retired, at: height))
  }

  // MARK: Helpers

  private func checkContent(of directory: Directory) throws {
    var seen = Set<String>()
    for item in directory.items where !seen.insert(item.name).inserted {
      throw Rejection("directory.duplicate_item", "data item \"\(item.name)\" appears more than once")
    }
    if directory.shareType == .conditional && directory.shareCondition.isEmpty {
      throw Rejection(
        "directory.missing_share_condition", "a 有条件共享 (conditional) directory must state its shareCondition")
    }
  }

  /// Moves the citation counts of the bureau's duties from `removing` to
  /// `adding`; every duty in `adding` must be active.
  private func adjustCitations(bureauId: String, removing: [String], adding: [String]) throws {
    let removed = Set(removing).subtracting(adding)
    let added = Set(adding).subtracting(removing)
    for dutyId in adding {
      guard let record = try state.read(.duty(bureauId, dutyId)), record.status == .active else {
        throw Rejection(
          "directory.duty_not_active",
          "cited duty \"\(dutyId)\" is not an active duty of bureau \"\(bureauId)\"")
      }
    }
    for dutyId in removed.sorted() { try addCitations(-1, to: bureauId, dutyId) }
    for dutyId in added.sorted() { try addCitations(1, to: bureauId, dutyId) }
  }

  private func addCitations(_ delta: Int64, to bureauId: String, _ dutyId: String) throws {
    let key = RecordKey.duty(bureauId, dutyId)
    guard let record = try state.read(key), case .duty(let duty, let count) = record.value else {
      preconditionFailure("an active directory cites duty \(dutyId), which does not exist")
    }
    let newCount = Int64(count) + delta
    precondition(newCount >= 0, "citation count of \(dutyId) below zero")
    // Citation counts are bookkeeping, not a new version of the duty's text.
    var updated = record
    updated.value = .duty(duty, citingDirectoryCount: UInt32(newCount))
    updated.updatedAtHeight = height
    state.write(key, updated)
  }

  func activeDuty(_ bureauId: String, _ dutyId: String) throws -> (StateRecord, Duty, UInt32) {
    guard let record = try state.read(.duty(bureauId, dutyId)), case .duty(let duty, let count) = record.value else {
      throw Rejection("duty.not_found", "duty \"\(dutyId)\" of \"\(bureauId)\" does not exist")
    }
    guard record.status == .active else {
      throw Rejection("duty.retired", "duty \"\(dutyId)\" of \"\(bureauId)\" is retired")
    }
    return (record, duty, count)
  }

  /// An active directory; rejection codes start with `code` (`directory`, `grant`, `share`, …).
  func activeDirectory(_ bureauId: String, _ directoryId: String, code: String) throws -> (StateRecord, Directory) {
    guard let record = try state.read(.directory(bureauId, directoryId)),
      case .directory(let directory) = record.value
    else {
      throw Rejection("\(code).directory_not_found", "directory \"\(directoryId)\" of \"\(bureauId)\" does not exist")
    }
    guard record.status == .active else {
      throw Rejection("\(code).directory_retired", "directory \"\(directoryId)\" of \"\(bureauId)\" is retired")
    }
    return (record, directory)
  }
}

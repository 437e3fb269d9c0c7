/// What a bureau declares about itself: its duties (职责) and the data
/// directories (数据目录) those duties justify. Signed by one of the bureau's
/// operator keys.

/// 职责: a responsibility the bureau holds by law.
public struct Duty: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  public var dutyId: String
  /// e.g. "户籍管理".
  public var title: String
  /// The law or regulation that assigns the duty (职责依据), e.g. "《中华人民共和国户口登记条例》".
  public var legalBasis: String
  public var description: String

  public init(bureauId: String, dutyId: String, title: String, legalBasis: String, description: String) {
    self.bureauId = bureauId
    self.dutyId = dutyId
    self.title = title
    self.legalBasis = legalBasis
    self.description = description
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: dutyId)
    writer.write(string: title)
    writer.write(string: legalBasis)
    writer.write(string: description)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    dutyId = try reader.read(identifier: "dutyId")
    title = try reader.read(string: "title", limit: Limits.titleBytesMax)
    legalBasis = try reader.read(string: "legalBasis", limit: Limits.legalBasisBytesMax)
    description = try reader.read(string: "description", limit: Limits.descriptionBytesMax)
  }
}

/// Retires a duty, a directory or a grant: names the bureau's own record and why.
public struct Retirement: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  /// The duty id, directory id or grant id being retired.
  public var recordId: String
  public var reason: String

  public init(bureauId: String, recordId: String, reason: String) {
    self.bureauId = bureauId
    self.recordId = recordId
    self.reason = reason
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: recordId)
    writer.write(string: reason)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    recordId = try reader.read(identifier: "recordId")
    reason = try reader.read(string: "reason", limit: Limits.reasonBytesMax)
  }
}

/// 信息项: one data item (field) of a directory.
public struct DataItem: Hashable, Sendable, Codable, CanonicalCodable {
  /// e.g. "公民身份号码".
  public var name: String
  public var type: DataItemType
  public var description: String

  public init(name: String, type: DataItemType, description: String) {
    self.name = name
    self.type = type
    self.description = description
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: name)
    writer.write(u8: type.rawValue)
    writer.write(string: description)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    name = try reader.read(string: "name", limit: Limits.dataItemNameBytesMax)
    type = try reader.read(enum: "type", as: DataItemType.self)
    description = try reader.read(string: "description", limit: Limits.descriptionBytesMax)
  }
}

/// 数据目录 (政务信息资源目录): a data resource the bureau keeps, justified by
/// at least one of its duties (职责目录化). Published once, then revised as new
/// versions; the ledger numbers the versions.
public struct Directory: Hashable, Sendable, Codable, CanonicalCodable {
  public var bureauId: String
  public var directoryId: String
  /// e.g. "常住人口基本信息".
  public var title: String
  public var description: String
  /// The bureau's duties that justify keeping this data (ascending, 1 to 32).
  public var dutyIds: [String]
  /// The data items in presentation order (1 to 512).
  public var items: [DataItem]
  public var shareType: ShareType
  /// 共享条件: for conditional sharing, what a requester must show; empty otherwise.
  public var shareCondition: String
  public var openType: OpenType
  public var updateCycle: UpdateCycle

  public init(
    bureauId: String, directoryId: String, title: String, description: String,
    dutyIds: [String], items: [DataItem], shareType: ShareType, shareCondition: String,
    openType: OpenType, updateCycle: UpdateCycle
  ) {
    self.bureauId = bureauId
    self.directoryId = directoryId
    self.title = title
    self.description = description
    self.dutyIds = CanonicalSet.identifiers(dutyIds)
    self.items = items
    self.shareType = shareType
    self.shareCondition = shareCondition
    self.openType = openType
    self.updateCycle = updateCycle
  }

  public func encode(to writer: inout CanonicalWriter) {
    writer.write(string: bureauId)
    writer.write(string: directoryId)
    writer.write(string: title)
    writer.write(string: description)
    writer.write(identifierSet: dutyIds)
    writer.write(array: items)
    writer.write(u8: shareType.rawValue)
    writer.write(string: shareCondition)
    writer.write(u8: openType.rawValue)
    writer.write(u8: updateCycle.rawValue)
  }

  public init(from reader: inout CanonicalReader) throws(FormatError) {
    bureauId = try reader.read(identifier: "bureauId")
    directoryId = try reader.read(identifier: "directoryId")
    title = try reader.read(string: "title", limit: Limits.titleBytesMax)
    description = try reader.read(string: "description", limit: Limits.descriptionBytesMax)
    dutyIds = try reader.read(identifierSet: "dutyIds", count: 1...Limits.dutyCitationCountMax)
    items = try reader.read(array: "items", of: DataItem.self, count: 1...Limits.dataItemCountMax)
    shareType = try reader.read(enum: "shareType", as: ShareType.self)
    shareCondition = try reader.read(string: "shareCondition", limit: Limits.shareConditionBytesMax)
    openType = try reader.read(enum: "openType", as: OpenType.self)
    updateCycle = try reader.read(enum: "updateCycle", as: UpdateCycle.self)
  }
}

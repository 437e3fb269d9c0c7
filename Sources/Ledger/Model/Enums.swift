/// 共享类型: whether and how other bureaus may obtain a directory's data.
public enum ShareType: UInt8, WireEnum {
  /// 无条件共享: every registered bureau may read it; each share is still recorded.
  case unconditional = 1
  /// 有条件共享: needs an active grant covering the items and purpose.
  case conditional = 2
  /// 不予共享: may not be granted to anyone.
  case notShared = 3
}

/// 开放类型: whether the data may be opened to the public.
public enum OpenType: UInt8, WireEnum {
  /// 无条件开放
  case open = 1
  /// 有条件开放
  case conditional = 2
  /// 不予开放
  case notOpen = 3
}

/// 更新周期: how often the bureau refreshes the data.
public enum UpdateCycle: UInt8, WireEnum {
  case realTime = 1
  case daily = 2
  case weekly = 3
  case monthly = 4
  case quarterly = 5
  case semiannual = 6
  case yearly = 7
  case irregular = 8
}

/// 信息项数据类型: the type of one data item (a column of the resource).
public enum DataItemType: UInt8, WireEnum {
  case text = 1
  case integer = 2
  case decimal = 3
  case date = 4
  case dateTime = 5
  case boolean = 6
  case binary = 7
  /// A value from a published code table (e.g. GB/T 2260 region codes).
  case code = 8
}

/// What a data attestation's hash covers.
public enum AttestationKind: UInt8, WireEnum {
  /// The SHA-256 of one data release (a file or message as delivered).
  case release = 1
  /// The RFC 6962 Merkle root over the hashes of a batch of records.
  case batchRoot = 2
}

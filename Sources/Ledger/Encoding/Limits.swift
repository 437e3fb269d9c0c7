/// Hard limits on every variable-length field of the canonical encoding.
/// docs/FORMAT.md lists the same numbers; changing one is a format change.
public enum Limits {
  public static let chainIdBytesMax = 64
  public static let identifierBytesMax = 64
  public static let nameBytesMax = 256
  public static let titleBytesMax = 256
  public static let reasonBytesMax = 1_024
  public static let purposeBytesMax = 1_024
  public static let legalBasisBytesMax = 1_024
  public static let descriptionBytesMax = 4_096
  public static let shareConditionBytesMax = 1_024
  public static let dataItemNameBytesMax = 128
  public static let dataItemCountMax = 512
  public static let dutyCitationCountMax = 32
  public static let bureauKeyCountMax = 8
  public static let transactionSignatureCountMax = 16
  public static let validatorChangeCountMax = 64
  public static let validatorCountMax = 256
  public static let governanceKeyCountMax = 16
  /// Entries of each list in a genesis file (bureaus, duties, directories, grants).
  public static let genesisRecordCountMax = 100_000
  /// Validator-set changes scheduled but not yet in force.
  public static let pendingValidatorChangeCountMax = 16
  public static let transactionBytesMax = 64 * 1_024
  public static let blockTransactionCountMax = 10_000
  public static let blockBytesMax = 16 * 1_024 * 1_024
}

extension Collection {
  /// Consecutive runs of at most `size` elements, in order (the last may be
  /// shorter): how frames, batches and work under a lock are kept bounded.
  public func chunks(of size: Int) -> [SubSequence] {
    precondition(size > 0, "a chunk holds at least one element")
    var chunks: [SubSequence] = []
    var start = startIndex
    while start != endIndex {
      let end = index(start, offsetBy: size, limitedBy: endIndex) ?? endIndex
      chunks.append(self[start..<end])
      start = end
    }
    return chunks
  }
}

/// A small, fast, seeded generator (SplitMix64, Steele et al. 2014): the
/// project's one source of reproducible randomness (the consensus simulator,
/// the fuzzers, randomised tests). The same seed gives the same sequence in
/// every process, unlike `hashValue`, which Swift seeds per process.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  private var state: UInt64

  public init(seed: UInt64) { state = seed }

  /// A seed derived from `text` by FNV-1a: stable across processes and runs.
  public static func seed(_ base: UInt64, _ text: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { hash = (hash ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return base ^ hash
  }

  public mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// True with `probability` (0…1).
  public mutating func chance(_ probability: Double) -> Bool { Double(next() >> 11) / Double(1 << 53) < probability }
}

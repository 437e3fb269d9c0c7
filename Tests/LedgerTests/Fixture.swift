import Foundation

enum Fixture {
  /// Test vectors (BIP-340, RFC 6962 roots) shipped in the test bundle.
  static func text(_ name: String) throws -> String {
    guard let url = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil) else {
      throw FixtureMissing(name: name)
    }
    return try String(contentsOf: url, encoding: .utf8)
  }

  struct FixtureMissing: Error { let name: String }

  /// The repository root, found from this file's path, for tests that check committed docs.
  static var repositoryRoot: URL {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
  }
}

import Foundation
import Ledger
import Testing

@testable import Node

@Suite("Secret key files")
struct KeyFileTests {
  static func temporaryPath() -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("key-\(UUID().uuidString)").path
  }

  @Test("a written key file is mode 0600 and reads back to the same key")
  func roundTrip() throws {
    let path = Self.temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let key = SecretKey()
    try KeyFile.write(key, to: path)
    let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
    #expect(permissions == 0o600)
    #expect(try KeyFile.read(from: path).publicKey == key.publicKey)
  }

  @Test("an existing file is never overwritten")
  func noOverwrite() throws {
    let path = Self.temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    let first = SecretKey()
    try KeyFile.write(first, to: path)
    #expect(throws: KeyFile.Failure.alreadyExists(path: path)) { try KeyFile.write(SecretKey(), to: path) }
    #expect(try KeyFile.read(from: path).publicKey == first.publicKey)
  }

  @Test("a key file others can read is refused")
  func tooOpen() throws {
    let path = Self.temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    try KeyFile.write(SecretKey(), to: path)
    chmod(path, 0o644)
    #expect(throws: KeyFile.Failure.tooOpen(path: path, mode: 0o644)) { try KeyFile.read(from: path) }
  }

  @Test(
    "a file that is not a key is refused",
    arguments: ["", "zz", String(repeating: "0", count: 64), String(repeating: "f", count: 64)])
  func malformed(content: String) throws {
    let path = Self.temporaryPath()
    defer { try? FileManager.default.removeItem(atPath: path) }
    FileManager.default.createFile(atPath: path, contents: Data(content.utf8), attributes: [.posixPermissions: 0o600])
    #expect(throws: KeyFile.Failure.malformed(path: path)) { try KeyFile.read(from: path) }
  }
}

import ArgumentParser
import Foundation

/// A failure reported to the operator as one line, `error: CODE: message`,
/// with exit status 1. Codes are stable; scripts may match on them.
struct CLIError: Error, CustomStringConvertible {
  let code: String
  let message: String

  var description: String { "\(code): \(message)" }
}

extension CLIError: LocalizedError {
  var errorDescription: String? { description }
}

enum JSONOutput {
  static func string(_ value: some Encodable) throws -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    return String(decoding: try encoder.encode(value), as: UTF8.self)
  }
}

/// Prints a line straight to standard output, unbuffered: scripts and tests
/// that read a long-running command's output see each line as it happens.
func say(_ text: String = "") {
  FileHandle.standardOutput.write(Data((text + "\n").utf8))
}

import Foundation
import Ledger
import Testing

/// Kills a real process in the middle of committing blocks and checks that the
/// store reopens at a block boundary, with nothing it reported as committed lost.
@Suite("Store crash recovery", .serialized)
struct StoreCrashTests {
  @Test("SIGKILL during commits: the store reopens at the previous or the next block, never between")
  func killDuringCommits() throws {
    let data = FileManager.default.temporaryDirectory.appendingPathComponent("crash-\(UUID().uuidString)").path
    defer { try? FileManager.default.removeItem(atPath: data) }
    var generator = SystemRandomNumberGenerator()
    var lastReported: UInt64 = 0
    for round in 0..<4 {
      let process = Process()
      process.executableURL = CLIRun.binary
      process.arguments = ["dev", "fill-store", "--data", data, "--blocks", "100000", "--transactions", "200"]
      let output = Pipe()
      process.standardOutput = output
      process.standardError = FileHandle.nullDevice
      try process.run()
      // Let it commit for a random while, then kill it without warning.
      usleep(UInt32.random(in: 300_000...900_000, using: &generator))
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
      let printed = String(decoding: output.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
      if let last = printed.split(separator: "\n").last(where: { $0.hasPrefix("committed ") }) {
        lastReported = UInt64(last.dropFirst("committed ".count))!
      }
      let check = try CLIRun.run(["dev", "check-store", "--data", data])
      #expect(check.status == 0, "round \(round): \(check.stderr)")
      let head = UInt64(check.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
      // Synced writes: every height printed is durable; at most the one in flight is also there.
      #expect(
        head == lastReported || head == lastReported + 1, "round \(round): head \(head), last printed \(lastReported)")
      lastReported = head
    }
    #expect(lastReported > 0, "no block was committed before the kills")
  }
}

import Foundation
import Testing

@testable import Node

@Suite("Returning free heap pages")
struct HeapTrimTests {
  @Test("free space between live allocations stops being resident once trimmed, and only above the mark")
  func trimReturnsFreePagesAboveTheMark() throws {
    let before = try #require(HeapTrim.residentBytes())
    #expect(before > 1 << 20)
    #expect(!HeapTrim.ifResidentAbove(Int.max))

    // 64 MiB in 4 KiB pieces, written so they are resident, then all freed
    // but every 64th: ≈ 63 MiB of holes that glibc keeps, since a live piece
    // sits above each of them.
    let pieceCount = 16_384
    var pieces: [UnsafeMutableRawPointer] = (0..<pieceCount).map { _ in
      let piece = malloc(4_096)!
      memset(piece, 0xA5, 4_096)
      return piece
    }
    for index in pieces.indices where index % 64 != 0 { free(pieces[index]) }
    pieces = stride(from: 0, to: pieceCount, by: 64).map { pieces[$0] }
    defer { for piece in pieces { free(piece) } }

    let fragmented = try #require(HeapTrim.residentBytes())
    #expect(HeapTrim.ifResidentAbove(0))
    let trimmed = try #require(HeapTrim.residentBytes())
    #expect(fragmented - trimmed > 32 << 20, "resident \(fragmented) → \(trimmed) bytes")
  }
}

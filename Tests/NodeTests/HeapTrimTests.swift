import Foundation
import Testing

@testable import Node

@Suite("Returning free heap pages")
struct HeapTrimTests {
  static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

  /// How many of the pages that begin inside `pieces` are resident, by
  /// `mincore`: the pages themselves, so that other tests running in the
  /// same process cannot move the count the way they move its resident size.
  static func residentPages(in pieces: [UnsafeMutableRawPointer], pieceBytes: Int) -> (resident: Int, total: Int) {
    var resident = 0
    var total = 0
    var residency = [UInt8](repeating: 0, count: 1)
    for piece in pieces {
      let start = (Int(bitPattern: piece) + pageSize - 1) / pageSize * pageSize
      var page = start
      while page + pageSize <= Int(bitPattern: piece) + pieceBytes {
        total += 1
        if mincore(UnsafeMutableRawPointer(bitPattern: page), pageSize, &residency) == 0, residency[0] & 1 == 1 {
          resident += 1
        }
        page += pageSize
      }
    }
    return (resident, total)
  }

  @Test("free space between live allocations stops being resident once trimmed, and only above the mark")
  func trimReturnsFreePagesAboveTheMark() throws {
    let resident = try #require(HeapTrim.residentBytes())
    #expect(resident > 1 << 20)
    #expect(!HeapTrim.ifResidentAbove(Int.max))

    // 64 MiB in 16 KiB pieces, written so they are resident, then all freed
    // but every 16th: holes that glibc keeps, since a live piece sits above
    // each of them.
    let pieceBytes = 16_384
    let pieces: [UnsafeMutableRawPointer] = (0..<4_096).map { _ in
      let piece = malloc(pieceBytes)!
      memset(piece, 0xA5, pieceBytes)
      return piece
    }
    let kept = stride(from: 0, to: pieces.count, by: 16).map { pieces[$0] }
    let freed = pieces.indices.filter { $0 % 16 != 0 }.map { pieces[$0] }
    defer { for piece in kept { free(piece) } }
    for piece in freed { free(piece) }

    let before = Self.residentPages(in: freed, pieceBytes: pieceBytes)
    #expect(before.resident * 4 > before.total * 3, "\(before.resident) of \(before.total) freed pages resident")
    #expect(HeapTrim.ifResidentAbove(0))
    let after = Self.residentPages(in: freed, pieceBytes: pieceBytes)
    #expect(after.resident * 4 < after.total, "\(after.resident) of \(after.total) freed pages still resident")
  }
}

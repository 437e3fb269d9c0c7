import Foundation
import Ledger
import Testing

@testable import Node

/// The batch answer is written by hand on the hot path; clients see the bytes
/// the API's JSONEncoder would have written for every other answer.
@Suite("Batch answers in JSON")
struct BatchResponseTests {
  static func encoded(_ response: BatchResponse) throws -> [UInt8] { Array(try HTTPAPI.encoder.encode(response)) }

  @Test("admitted and refused outcomes are the bytes JSONEncoder writes, keys sorted and absent fields left out")
  func sameBytesAsTheEncoder() throws {
    let ids = (0..<3).map { SHA256.hash([UInt8($0)]).hex }
    let cases = [
      BatchResponse(accepted: 0, results: []),
      BatchResponse(accepted: 3, results: ids.enumerated().map { BatchOutcome(index: $0.offset, id: $0.element) }),
      BatchResponse(
        accepted: 1,
        results: [
          BatchOutcome(
            index: 0, error: .badRequest("tx.bad_signature", "transactions[0]: a signature does not verify")),
          BatchOutcome(index: 7, id: ids[0]),
          BatchOutcome(index: 12_345, error: APIError(.tooManyRequests, "mempool.full", "the mempool is full")),
        ]),
    ]
    for response in cases {
      #expect(response.jsonBytes == (try Self.encoded(response)))
    }
  }

  @Test("text with quotes, backslashes, slashes, every control character and non-ASCII is escaped as JSONEncoder does")
  func escapesAsTheEncoder() throws {
    let controls = String(decoding: (0..<0x20).map { UInt8($0) }, as: UTF8.self)
    let texts = [
      #"say "no" \ to C:\path/of/it"#, controls, "\u{7F} del", "委办局 数据目录 🏛️", "\u{2028}\u{2029} separators", "",
    ]
    for (index, text) in texts.enumerated() {
      let response = BatchResponse(
        accepted: 0,
        results: [
          BatchOutcome(index: index, error: .badRequest("request.invalid_field", "transactions[\(index)]: \(text)"))
        ])
      let written = response.jsonBytes
      #expect(written == (try Self.encoded(response)), "text \(index)")
      // And it parses back to the same text.
      let parsed = try JSONSerialization.jsonObject(with: Data(written)) as? [String: Any]
      let results = try #require(parsed?["results"] as? [[String: Any]])
      let error = try #require(results.first?["error"] as? [String: Any])
      #expect(error["message"] as? String == "transactions[\(index)]: \(text)")
    }
  }
}

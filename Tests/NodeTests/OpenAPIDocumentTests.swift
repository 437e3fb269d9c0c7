import Foundation
import Node
import Testing

@Test func servedOpenAPIDocumentIsDocsOpenAPI() throws {
  let docs = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
    "../../docs/openapi.yaml")
  let text = try String(contentsOf: docs, encoding: .utf8)
  #expect(
    OpenAPIDocument.yaml + "\n" == text || OpenAPIDocument.yaml == text,
    "run `make openapi` after editing docs/openapi.yaml")
}

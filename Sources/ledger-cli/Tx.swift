import ArgumentParser
import Foundation
import Ledger

struct Tx: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Send transactions of every kind, print payload templates, decode canonical bytes.",
    subcommands: [Template.self, Decode.self] + kindCommands)

  struct Decode: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Decode a signed transaction (canonical bytes as hex) and print it as JSON.",
      discussion: """
        Reads hex from FILE, or from standard input when FILE is absent or "-". Whitespace \
        is ignored. Prints the transaction id, whether every signature verifies, and the \
        transaction. Malformed input exits with status 1 and one line naming the field.
        """)

    @Argument(help: "File holding the hex; standard input when absent or \"-\".")
    var file: String?

    func run() throws {
      let text = try readInput()
      let hexDigits = text.filter { !$0.isWhitespace }
      guard let bytes = Hex.decode(hexDigits) else {
        throw CLIError(code: "input.invalid_hex", message: "input is not an even number of hex digits")
      }
      guard bytes.count <= Limits.transactionBytesMax else {
        throw CLIError(
          code: "format.length_over_limit",
          message: "transaction is \(bytes.count) bytes; the limit is \(Limits.transactionBytesMax)")
      }
      let transaction: SignedTransaction
      do {
        transaction = try SignedTransaction(canonicalBytes: bytes)
      } catch {
        throw CLIError(
          code: error.code, message: "at \(error.field.isEmpty ? "transaction" : error.field): \(error.message)")
      }
      print(try JSONOutput.string(DecodedTransaction(transaction)))
    }

    private func readInput() throws -> String {
      // Hex of the largest transaction, with generous room for line breaks.
      let inputBytesMax = Limits.transactionBytesMax * 3
      let handle: FileHandle
      if let file, file != "-" {
        guard let opened = FileHandle(forReadingAtPath: file) else {
          throw CLIError(code: "input.unreadable", message: "cannot read \(file)")
        }
        handle = opened
      } else {
        handle = FileHandle.standardInput
      }
      // Read at most one byte past the limit, so an endless input cannot exhaust memory.
      let data = try handle.read(upToCount: inputBytesMax + 1) ?? Data()
      guard data.count <= inputBytesMax else {
        throw CLIError(code: "format.length_over_limit", message: "input exceeds \(inputBytesMax) bytes")
      }
      return String(decoding: data, as: UTF8.self)
    }
  }
}

/// What `tx decode` prints.
struct DecodedTransaction: Encodable {
  let id: Hash256
  let signaturesValid: Bool
  let body: TransactionBody
  let signatures: [TransactionSignature]

  init(_ transaction: SignedTransaction) {
    id = transaction.id
    signaturesValid = transaction.signaturesAreValid
    body = transaction.body
    signatures = transaction.signatures
  }
}

import ArgumentParser
import Ledger

struct Dev: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Tools for developers of clients and verifiers.",
    subcommands: [Examples.self])

  struct Examples: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the worked examples of docs/FORMAT.md as hex, one per line: NAME HEX.",
      discussion: "With --name, print only that example's hex (e.g. to pipe into `tx decode`).")

    @Option(help: "Print only this example, e.g. transaction/grantAccess, blockHeader, vote.")
    var name: String?

    func run() throws {
      let vectors = FormatExamples.vectors
      guard let name else {
        for vector in vectors { print(vector.name, Hex.encode(vector.bytes)) }
        return
      }
      guard let vector = vectors.first(where: { $0.name == name }) else {
        throw CLIError(
          code: "input.unknown_example",
          message: "no example named \(name); known: \(vectors.map(\.name).joined(separator: ", "))")
      }
      print(Hex.encode(vector.bytes))
    }
  }
}

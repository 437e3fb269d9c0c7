import ArgumentParser

@main
struct LedgerCLI: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ledger-cli",
    abstract: "Directory Ledger (目录链): operate a bureau node, sign transactions, verify proofs.",
    discussion: """
      Documentation: docs/FORMAT.md (canonical encoding), docs/OPERATIONS.md (running nodes).
      """,
    subcommands: [
      NodeCommand.self, DevnetCommand.self, DemoCommand.self, StatusCommand.self, Tx.self, QueryCommand.self,
      ProofCommand.self, ProvenanceCommand.self, BenchCommand.self,
      Keys.self, GenesisCommand.self, Dev.self,
    ])
}

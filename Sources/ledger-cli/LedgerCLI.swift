import ArgumentParser

@main
struct LedgerCLI: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "ledger-cli",
    abstract: "Directory Ledger (目录链): operate a bureau node, sign transactions, verify proofs.",
    discussion: """
      Documentation: docs/FORMAT.md (canonical encoding), docs/OPERATIONS.md (running nodes).
      """,
    subcommands: [Keys.self, GenesisCommand.self, Tx.self, Dev.self])
}

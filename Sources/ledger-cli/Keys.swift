import ArgumentParser
import Ledger
import Node

struct Keys: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Create and inspect BIP-340 keys for operators and nodes.",
    subcommands: [Generate.self, Show.self])

  struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Generate a secret key into a new file (mode 0600) and print its public key in hex.")

    @Option(name: .long, help: "Path of the key file to create; an existing file is never overwritten.")
    var out: String

    func run() throws {
      let key = SecretKey()
      do {
        try KeyFile.write(key, to: out)
      } catch {
        throw CLIError(code: "key.write_failed", message: error.description)
      }
      print(key.publicKey.hex)
    }
  }

  struct Show: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the public key of a key file in hex.")

    @Argument(help: "Path of the key file.")
    var file: String

    func run() throws {
      do {
        print(try KeyFile.read(from: file).publicKey.hex)
      } catch {
        throw CLIError(code: "key.read_failed", message: error.description)
      }
    }
  }
}

import Foundation
import Testing

@testable import Ledger

@Suite("Genesis")
struct GenesisTests {
  static func repositoryFile(_ path: String) throws -> Data {
    try Data(contentsOf: Fixture.repositoryRoot.appendingPathComponent(path))
  }

  @Test("genesis/devnet.json is the devnet genesis the code derives, and labels its keys as local-only")
  func devnetFile() throws {
    let genesis = try Genesis.parse(json: try Self.repositoryFile("genesis/devnet.json"))
    #expect(genesis == Devnet.genesis())
    #expect(genesis.description.contains("LOCAL DEVNET ONLY"))
  }

  @Test("the sample city builds by the rules: ~50 bureaus, ~300 directories of mixed share types, grants")
  func sampleCity() throws {
    let genesis = try Genesis.parse(json: try Self.repositoryFile("genesis/sample-city.json"))
    #expect(genesis.bureaus.count >= 50)
    #expect(genesis.directories.count >= 300)
    #expect(genesis.grants.count >= 40)
    #expect(Set(genesis.directories.map(\.shareType)) == [.unconditional, .conditional, .notShared])
    #expect(genesis.bureaus.contains { $0.name == "北京市公安局" })
    let state = try genesis.buildState(tree: SparseMerkleTree(source: InMemorySparseMerkleNodes()))
    #expect(
      state.execution.changes.count == 2 + genesis.bureaus.count + genesis.duties.count + genesis.directories.count
        + genesis.grants.count)
  }

  @Test("the genesis hash covers the content, not the JSON formatting")
  func hashIgnoresFormatting() throws {
    let genesis = Devnet.genesis()
    let compact = try JSONEncoder().encode(genesis)
    #expect(try Genesis.parse(json: compact).hash == genesis.hash)
    var changed = genesis
    changed.genesisTimeMs += 1
    #expect(changed.hash != genesis.hash)
  }

  @Test("a genesis that breaks a rule is refused with the entry and rule named")
  func refusesBrokenGenesis() throws {
    func buildError(_ genesis: Genesis) -> GenesisError? {
      do {
        _ = try genesis.buildState(tree: SparseMerkleTree(source: InMemorySparseMerkleNodes()))
        return nil
      } catch {
        return error as? GenesisError
      }
    }
    let base = try LedgerHarness().genesis
    var threshold = base
    threshold.governance.threshold = 4
    #expect(buildError(threshold)?.field == "governance.threshold")
    var orphan = base
    orphan.directories[1].dutyIds = ["GAJ-D-NONE"]
    let orphanError = try #require(buildError(orphan))
    #expect(orphanError.field == "directories[1]" && orphanError.message.contains("directory.duty_not_active"))
    var secretGrant = base
    secretGrant.grants = [
      Grant(
        grantorId: H.police, grantId: "G", granteeId: H.housing,
        scope: StateMachineTests.scope(H.secretDirectory, items: ["案件编号"]))
    ]
    #expect(buildError(secretGrant)?.message.contains("grant.directory_not_shareable") == true)

    let missingKey = Data(#"{"chainId": "x", "genesisTimeMs": 1, "validators": []}"#.utf8)
    #expect(
      performing: { try Genesis.parse(json: missingKey) }, throws: { ($0 as? GenesisError)?.field == "governance" })
    var json = try JSONSerialization.jsonObject(with: try base.jsonData()) as! [String: Any]
    json["chainId"] = "has space"
    let badId = try JSONSerialization.data(withJSONObject: json)
    #expect(performing: { try Genesis.parse(json: badId) }, throws: { ($0 as? GenesisError)?.field == "chainId" })
  }
}

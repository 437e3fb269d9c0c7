import Consensus
import Ledger

/// Steps `replica` as a host would, with an instant ledger: the blocks it
/// asks to build or validate are executed at once (`SimulatedExecutor`) and
/// the results fed back. Returns every action but those requests.
func stepAsHost<Verifier>(_ replica: inout Replica<Verifier>, _ event: ReplicaEvent) -> [ReplicaAction] {
  let executor = SimulatedExecutor()
  var events = [event]
  var returned: [ReplicaAction] = []
  while !events.isEmpty {
    for action in replica.step(events.removeFirst()) {
      switch action {
      case .buildBlock(let height, let parent, let transactions, let validators):
        let block = executor.buildBlock(
          on: parent, height: height, transactions: transactions, proposer: replica.me, validators: validators)
        events.append(.blockBuilt(height: height, block: block))
      case .validateBlock(let block, let parent, let validators):
        events.append(
          .blockValidated(
            blockHash: block.header.hash, valid: executor.validate(block, on: parent, validators: validators)))
      default:
        returned.append(action)
      }
    }
  }
  return returned
}

/// `actions` with every `persist` opened: what it writes, then what it does after.
func performed(_ actions: [ReplicaAction]) -> [ReplicaAction] {
  actions.flatMap { action -> [ReplicaAction] in
    if case .persist(_, let then) = action { return [action] + performed(then) }
    return [action]
  }
}

// Generated from docs/openapi.yaml by `make openapi`; NodeTests keep the two equal.
public enum OpenAPIDocument {
  public static let yaml = ##"""
    openapi: 3.0.3
    info:
      title: Directory Ledger node API
      version: "1"
      description: |
        The HTTP API every Directory Ledger node serves (validators and observers alike).
        Transactions are submitted in their canonical encoding (docs/FORMAT.md): as hex in JSON,
        or, with `Content-Type: application/octet-stream`, as the bytes themselves.
        Every error is JSON `{"error": {"code": "...", "message": "..."}}` with a stable code;
        4xx means bad input and changed nothing, 429/503 carry Retry-After.
        Lists are paged: `limit` (1 to the node's page_size_max, default page_size_default) and
        `after` (the `next` cursor of the previous page; absent on the last page).
    servers:
      - url: http://127.0.0.1:8080
    paths:
      /healthz:
        get:
          summary: Liveness; 503 when the node halted itself (see /v1/status `halted`).
          responses:
            "200": { description: Running, content: { application/json: { schema: { type: object, properties: { ok: { type: boolean } } } } } }
            "503": { $ref: "#/components/responses/Error" }
      /metrics:
        get:
          summary: Prometheus text exposition (metric names in docs/OPERATIONS.md).
          responses:
            "200": { description: Metrics, content: { text/plain: { schema: { type: string } } } }
      /openapi.yaml:
        get:
          summary: This document.
          responses:
            "200": { description: The OpenAPI document, content: { application/yaml: { schema: { type: string } } } }
      /v1/status:
        get:
          summary: Node and network status.
          responses:
            "200": { description: Status, content: { application/json: { schema: { $ref: "#/components/schemas/Status" } } } }
      /v1/transactions:
        post:
          summary: Submit one signed transaction.
          description: |
            The transaction is decoded strictly, its signatures verified, its signer's
            authorisation and sequence number checked against committed state, then it
            enters the mempool and is passed on to every validator. 202 means pending,
            not committed: poll GET /v1/transactions/{id} (with `wait`) for the outcome.
            429 (`mempool.full`, with Retry-After) once the node holds
            `mempool.client_transactions_max` pending transactions.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  additionalProperties: false
                  required: [transaction]
                  properties:
                    transaction: { type: string, description: "Canonical SignedTransaction bytes, hex.", pattern: "^([0-9a-fA-F]{2})+$" }
              application/octet-stream:
                schema: { type: string, format: binary, description: "The canonical SignedTransaction bytes (at most 65,536), nothing before or after them." }
          responses:
            "202": { description: Admitted to the mempool, content: { application/json: { schema: { $ref: "#/components/schemas/Admitted" } } } }
            "400": { $ref: "#/components/responses/Error" }
            "403": { $ref: "#/components/responses/Error" }
            "409": { $ref: "#/components/responses/Error" }
            "413": { $ref: "#/components/responses/Error" }
            "422": { $ref: "#/components/responses/Error" }
            "429": { $ref: "#/components/responses/Error" }
            "503": { $ref: "#/components/responses/Error" }
      /v1/transactions/batch:
        post:
          summary: Submit up to 10,000 signed transactions; each gets its own outcome.
          description: |
            The body is JSON with hex, or canonical bytes (`application/octet-stream`): the
            bulk form, with no JSON or hex to build or parse on either side. Outcomes are
            JSON either way, in the order submitted.
            202 when at least one transaction was admitted (the others carry their error);
            400 (with the first refusal's code) when none was; 429 (`mempool.full`, with
            Retry-After) when the request as a whole would take the node past its bound for
            client transactions (`mempool.client_transactions_max`; decided before any
            signature is checked, so a batch is taken or refused whole), or when the
            mempool refused them all for being full.
          requestBody:
            required: true
            content:
              application/json:
                schema:
                  type: object
                  additionalProperties: false
                  required: [transactions]
                  properties:
                    transactions: { type: array, minItems: 1, maxItems: 10000, items: { type: string } }
              application/octet-stream:
                schema:
                  type: string
                  format: binary
                  description: |
                    The transactions in canonical bytes, laid out as a block's are (docs/FORMAT.md §5):
                    `list<bytes>(1..10000)`, a varint count and then each canonical SignedTransaction
                    as a varint length and its bytes. A body that is not exactly such a list is refused
                    whole (400, a `format.*` code naming `transactions` or `transactions[i]`, or
                    `request.invalid_field` for a count outside 1..10000); an element that is read but
                    does not decode refuses only itself, in its outcome.
          responses:
            "202": { description: Per-transaction outcomes, content: { application/json: { schema: { $ref: "#/components/schemas/BatchResponse" } } } }
            "400": { $ref: "#/components/responses/Error" }
            "413": { $ref: "#/components/responses/Error" }
            "429": { $ref: "#/components/responses/Error" }
      /v1/transactions/{id}:
        get:
          summary: A transaction's status and, once committed, its block, position and result code.
          parameters:
            - { name: id, in: path, required: true, schema: { $ref: "#/components/schemas/Hash" } }
            - { name: wait, in: query, required: false, description: "Seconds to wait while the transaction is pending at this node (0 to the node's api.wait_seconds_max, default 0; above it: 400). A transaction this node has not seen answers 404 at once. The answer comes as soon as a block with it commits here (the request is woken by the commit, not by polling).", schema: { type: integer, minimum: 0, maximum: 300 } }
          responses:
            "200": { description: Pending or committed, content: { application/json: { schema: { $ref: "#/components/schemas/TransactionStatus" } } } }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/accounts/{key}:
        get:
          summary: A signer's sequence numbers (the next to use counts its pending transactions here).
          parameters:
            - { name: key, in: path, required: true, schema: { $ref: "#/components/schemas/Hash" } }
          responses:
            "200":
              description: Sequences (decimal strings)
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      key: { type: string }
                      committedSequence: { type: string }
                      nextSequence: { type: string }
            "400": { $ref: "#/components/responses/Error" }
      /v1/record:
        get:
          summary: Any state record by its key (docs/PROOFS.md §2), e.g. `grant/BJ-GAJ/BJ-GAJ-G001`.
          parameters:
            - { $ref: "#/components/parameters/RecordKey" }
          responses:
            "200": { description: The record, content: { application/json: { schema: { $ref: "#/components/schemas/KeyedRecord" } } } }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/history:
        get:
          summary: The transactions that wrote a record, newest first, paged.
          description: |
            Every committed transaction that wrote the record (genesis writes carry a zero id),
            newest first. A page ends where `next` says; pass it as `after` for the older ones.
            The cursor is 12 bytes in hex (height, then index in the block, big endian); any
            other value is refused with `request.invalid_field`.
          parameters:
            - { $ref: "#/components/parameters/RecordKey" }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200":
              description: History
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      key: { type: string }
                      entries:
                        type: array
                        items:
                          type: object
                          properties:
                            height: { type: integer }
                            index: { type: integer }
                            transactionId: { $ref: "#/components/schemas/Hash" }
                      next: { type: string, description: "Cursor of the next (older) page; absent on the last page." }
            "400": { $ref: "#/components/responses/Error" }
      /v1/bureaus:
        get:
          summary: Registered bureaus (any status), by id.
          parameters: [{ $ref: "#/components/parameters/Limit" }, { $ref: "#/components/parameters/After" }]
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/bureaus/{bureau}:
        get:
          summary: One bureau.
          parameters: [{ $ref: "#/components/parameters/BureauPath" }]
          responses:
            "200": { $ref: "#/components/responses/Record" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/duties:
        get:
          summary: Duties (职责), of one bureau or all.
          parameters:
            - { name: bureau, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/duties/{bureau}/{duty}:
        get:
          summary: One duty.
          parameters:
            - { $ref: "#/components/parameters/BureauPath" }
            - { name: duty, in: path, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
          responses:
            "200": { $ref: "#/components/responses/Record" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/directories:
        get:
          summary: Data directories (数据目录), by bureau, by share type, or by text in title, description or data items.
          description: |
            `text` scans directories (of `bureau` when given) and returns matches; one page scans
            at most 10,000 records, so a page may hold fewer than `limit` matches and still have `next`.
            `shareType` cannot be combined with `text`.
          parameters:
            - { name: bureau, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: shareType, in: query, required: false, schema: { type: string, enum: [unconditional, conditional, notShared] } }
            - { name: text, in: query, required: false, schema: { type: string, minLength: 1, maxLength: 256 } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/directories/{bureau}/{directory}:
        get:
          summary: One directory.
          parameters:
            - { $ref: "#/components/parameters/BureauPath" }
            - { name: directory, in: path, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
          responses:
            "200": { $ref: "#/components/responses/Record" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/grants:
        get:
          summary: Data-sharing grants (授权), by grantor, grantor and directory, or grantee.
          parameters:
            - { name: grantor, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: directory, in: query, required: false, description: "With grantor.", schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: grantee, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: status, in: query, required: false, schema: { type: string, enum: [active, all], default: active } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/grants/{grantor}/{grant}:
        get:
          summary: One grant.
          parameters:
            - { name: grantor, in: path, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: grant, in: path, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
          responses:
            "200": { $ref: "#/components/responses/Record" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/requests:
        get:
          summary: Access requests, by requester and/or provider.
          parameters:
            - { name: requester, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: provider, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/attestations:
        get:
          summary: Data attestations, by bureau, directory (with bureau) and/or data hash.
          parameters:
            - { name: bureau, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: directory, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: dataHash, in: query, required: false, schema: { $ref: "#/components/schemas/Hash" } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/shares:
        get:
          summary: Share records, by provider and/or consumer.
          parameters:
            - { name: provider, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: consumer, in: query, required: false, schema: { $ref: "#/components/schemas/Identifier" } }
            - { $ref: "#/components/parameters/Limit" }
            - { $ref: "#/components/parameters/After" }
          responses:
            "200": { $ref: "#/components/responses/Page" }
            "400": { $ref: "#/components/responses/Error" }
      /v1/proofs/record:
        get:
          summary: Proof bundle for the inclusion (or non-inclusion) of any state record (docs/PROOFS.md §7).
          parameters:
            - { $ref: "#/components/parameters/RecordKey" }
            - { name: height, in: query, required: false, description: "Anchor height (default the head; ≥ 1).", schema: { type: integer, minimum: 1 } }
            - { $ref: "#/components/parameters/ProofFormat" }
          responses:
            "200": { $ref: "#/components/responses/Bundle" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
            "409": { $ref: "#/components/responses/Error" }
      /v1/proofs/tx/{id}:
        get:
          summary: Proof bundle for a transaction, its result, its block and that block in the history of the head.
          parameters:
            - { name: id, in: path, required: true, schema: { $ref: "#/components/schemas/Hash" } }
            - { $ref: "#/components/parameters/ProofFormat" }
          responses:
            "200": { $ref: "#/components/responses/Bundle" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/proofs/consistency:
        get:
          summary: Proof bundle that the chain at height `to` extends the chain at height `from`.
          parameters:
            - { name: from, in: query, required: true, schema: { type: integer, minimum: 0 } }
            - { name: to, in: query, required: false, description: "Default the head.", schema: { type: integer, minimum: 1 } }
            - { $ref: "#/components/parameters/ProofFormat" }
          responses:
            "200": { $ref: "#/components/responses/Bundle" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/provenance:
        get:
          summary: The approval-service question as one bundle — who attested this data, under which directory and duties, the consumer's grant and the share record.
          parameters:
            - { name: dataHash, in: query, required: true, schema: { $ref: "#/components/schemas/Hash" } }
            - { name: consumer, in: query, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
            - { name: height, in: query, required: false, description: "Anchor height (default the head).", schema: { type: integer, minimum: 1 } }
            - { $ref: "#/components/parameters/ProofFormat" }
          responses:
            "200": { $ref: "#/components/responses/Bundle" }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/blocks/{height}:
        get:
          summary: A committed block with its commit certificate (none at height 0); `format=binary` gives the canonical Block bytes only.
          parameters: [{ $ref: "#/components/parameters/Height" }, { $ref: "#/components/parameters/ProofFormat" }]
          responses:
            "200":
              description: Block
              content:
                application/octet-stream: { schema: { type: string, format: binary } }
                application/json:
                  schema:
                    type: object
                    properties:
                      hash: { $ref: "#/components/schemas/Hash" }
                      block: { type: object, description: "Block JSON form (docs/FORMAT.md)." }
                      certificate: { type: object, nullable: true, description: "CommitCertificate JSON form." }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
      /v1/headers:
        get:
          summary: Block headers, newest first, from `from` (default the head) down.
          parameters:
            - { name: from, in: query, required: false, schema: { type: integer, minimum: 0 } }
            - { $ref: "#/components/parameters/Limit" }
          responses:
            "200":
              description: Headers
              content:
                application/json:
                  schema:
                    type: object
                    properties:
                      headers: { type: array, items: { $ref: "#/components/schemas/Header" } }
            "400": { $ref: "#/components/responses/Error" }
      /v1/headers/{height}:
        get:
          summary: One block header.
          parameters: [{ $ref: "#/components/parameters/Height" }]
          responses:
            "200": { description: Header, content: { application/json: { schema: { $ref: "#/components/schemas/Header" } } } }
            "400": { $ref: "#/components/responses/Error" }
            "404": { $ref: "#/components/responses/Error" }
    components:
      parameters:
        Limit: { name: limit, in: query, required: false, schema: { type: integer, minimum: 1, maximum: 1000 } }
        After: { name: after, in: query, required: false, description: "The `next` cursor of the previous page (hex).", schema: { type: string, pattern: "^([0-9a-f]{2})*$", maxLength: 2048 } }
        RecordKey: { name: key, in: query, required: true, schema: { type: string, maxLength: 512, example: "directory/BJ-GAJ/BJ-GAJ-R01" } }
        BureauPath: { name: bureau, in: path, required: true, schema: { $ref: "#/components/schemas/Identifier" } }
        ProofFormat: { name: format, in: query, required: false, description: "json (default) or binary: canonical bytes (proof bundles: docs/PROOFS.md §7.1; blocks: docs/FORMAT.md §5).", schema: { type: string, enum: [json, binary] } }
        Height: { name: height, in: path, required: true, description: "A height (at most 2^64 − 1), or `latest`.", schema: { type: string, pattern: "^([0-9]{1,20}|latest)$" } }
      responses:
        Bundle:
          description: A proof bundle.
          content:
            application/json: { schema: { type: object, description: "ProofBundle JSON form (docs/PROOFS.md §7.1)." } }
            application/octet-stream: { schema: { type: string, format: binary } }
        Error:
          description: An error with a stable code.
          headers:
            Retry-After: { description: "Seconds to wait (429 and 503 only).", schema: { type: integer } }
          content: { application/json: { schema: { $ref: "#/components/schemas/Error" } } }
        Page:
          description: One page of records.
          content: { application/json: { schema: { $ref: "#/components/schemas/RecordPage" } } }
        Record:
          description: One record.
          content: { application/json: { schema: { $ref: "#/components/schemas/KeyedRecord" } } }
      schemas:
        Hash: { type: string, pattern: "^[0-9a-f]{64}$" }
        Identifier: { type: string, description: "1 to 64 of A-Z a-z 0-9 . _ : - (docs/FORMAT.md, `id`).", pattern: "^[A-Za-z0-9._:-]{1,64}$" }
        Error:
          type: object
          required: [error]
          properties:
            error:
              type: object
              required: [code, message]
              properties:
                code: { type: string, description: "request.*, format.*, tx.*, governance.*, mempool.*, node.*, proof.*, not_found, internal; rule codes in docs/RULES.md." }
                message: { type: string }
        Admitted:
          type: object
          properties:
            id: { $ref: "#/components/schemas/Hash" }
            status: { type: string, enum: [pending] }
        BatchResponse:
          type: object
          properties:
            accepted: { type: integer }
            results:
              type: array
              items:
                type: object
                properties:
                  index: { type: integer }
                  id: { $ref: "#/components/schemas/Hash" }
                  error: { $ref: "#/components/schemas/Error/properties/error" }
        TransactionStatus:
          type: object
          required: [id, status]
          properties:
            id: { $ref: "#/components/schemas/Hash" }
            status: { type: string, enum: [pending, committed] }
            height: { type: integer }
            index: { type: integer }
            result:
              type: object
              properties:
                code: { type: string, description: "`ok` or the rejection code (docs/RULES.md)." }
                message: { type: string }
            transaction: { type: object, description: "SignedTransaction JSON form." }
        KeyedRecord:
          type: object
          properties:
            key: { type: string }
            record:
              type: object
              description: |
                StateRecord JSON form: `kind` (bureau, duty, directory, request, grant, attestation, share,
                account, governance, validators), the value under the kind's name, `status`, `version`,
                `createdAtHeight`, `updatedAtHeight`.
        RecordPage:
          type: object
          properties:
            records: { type: array, items: { $ref: "#/components/schemas/KeyedRecord" } }
            next: { type: string, description: "Cursor for `after`; absent on the last page." }
        Header:
          type: object
          properties:
            hash: { $ref: "#/components/schemas/Hash" }
            header: { type: object, description: "BlockHeader JSON form (docs/FORMAT.md)." }
        Status:
          type: object
          properties:
            chainId: { type: string }
            genesisHash: { $ref: "#/components/schemas/Hash" }
            nodeId: { type: string }
            nodeKey: { $ref: "#/components/schemas/Hash" }
            role:
              type: string
              enum: [validator, follower]
              description: "What the node does at the next height: `validator` votes (its key is in the set in force there and its configured role is validator); `follower` takes certified blocks without voting."
            height: { type: integer }
            view: { type: integer }
            viewChangeTarget: { type: integer, description: "Present while the node asks to move to this view (a view change in progress)." }
            primary: { type: string, nullable: true, description: "Node key of the current view's primary in the set of the next height (absent while that set is not known yet)." }
            isPrimary: { type: boolean }
            lastBlockHash: { $ref: "#/components/schemas/Hash" }
            lastBlockTimeMs: { type: integer }
            stateRoot: { $ref: "#/components/schemas/Hash" }
            validators: { type: array, items: { $ref: "#/components/schemas/Hash" } }
            peers:
              type: array
              items:
                type: object
                properties:
                  nodeKey: { $ref: "#/components/schemas/Hash" }
                  role: { type: string }
                  address: { type: string }
            mempoolSize: { type: integer }
            transactionsPerSecond: { type: number, description: "Committed over the last 10 s." }
            halted: { type: string, nullable: true, description: "Why the node stopped itself, if it did." }
    """##
}

// Generated from docs/openapi.yaml by `make openapi`; a test keeps them equal.
enum OpenAPIDocument {
  static let yaml = """
    openapi: 3.0.3
    """
}

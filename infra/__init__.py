"""CDK constructs and stacks that deploy portguard."""

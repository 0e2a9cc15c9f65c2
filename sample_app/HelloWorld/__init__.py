import azure.durable_functions as df


def orchestrator_function(context: df.DurableOrchestrationContext):
    city = context.get_input()
    greeting = yield context.call_activity("SayHello", city)
    return greeting


main = df.Orchestrator.create(orchestrator_function)

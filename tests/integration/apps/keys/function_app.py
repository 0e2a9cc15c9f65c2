import azure.durable_functions as df
import azure.functions as func

app = df.DFApp()


@app.route(route="public", auth_level=func.AuthLevel.ANONYMOUS)
def public(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("public")


@app.route(route="private", auth_level=func.AuthLevel.FUNCTION)
def private(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("private")


@app.route(route="admin-only", auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin")


@app.route(route="start", auth_level=func.AuthLevel.FUNCTION)
@app.durable_client_input(client_name="client")
async def start(req: func.HttpRequest, client: df.DurableOrchestrationClient) -> func.HttpResponse:
    instance_id = await client.start_new("hello", None, "Keys")
    return client.create_check_status_response(req, instance_id)


@app.orchestration_trigger(context_name="context")
def hello(context: df.DurableOrchestrationContext):
    return (yield context.call_activity("greet", context.get_input()))


@app.activity_trigger(input_name="name")
def greet(name: str) -> str:
    return f"Hello {name}!"

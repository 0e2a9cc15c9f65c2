"""An order pipeline that stops half-way to wait for a shipment event (for the replay checker)."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.orchestration_trigger(context_name="context")
def order_pipeline(context: df.DurableOrchestrationContext):
    order = context.get_input()
    reserved = yield context.call_activity("reserve_stock", order)
    charged = yield context.call_activity("charge_card", order)
    shipment = yield context.wait_for_external_event("Shipped")
    return [reserved, charged, shipment]


@app.activity_trigger(input_name="order")
def reserve_stock(order: str) -> str:
    return f"reserved {order}"


@app.activity_trigger(input_name="order")
def charge_card(order: str) -> str:
    return f"charged {order}"


@app.activity_trigger(input_name="order")
def bill_customer(order: str) -> str:
    return f"billed {order}"

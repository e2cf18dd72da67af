"""A model of your own: an MLP whose hidden layer is gated, h = relu(W x) * sigmoid(V x)
(a gated linear unit, Dauphin et al. 2017). Importing this module registers it as
"gated_mlp"; its fields besides num_outputs are config.model's options."""
import flax.linen as nn

from jaxdl import models


@models.register("gated_mlp")
class GatedMLP(nn.Module):
    num_outputs: int
    width: int = 64  # config.model.width: hidden units
    gated: bool = True  # config.model.gated: False drops the gate (a plain ReLU MLP)

    @nn.compact
    def __call__(self, x, train: bool = False):
        x = x.reshape(x.shape[0], -1)
        h = nn.relu(nn.Dense(self.width)(x))
        if self.gated:
            h = h * nn.sigmoid(nn.Dense(self.width)(x))
        return nn.Dense(self.num_outputs)(h)
